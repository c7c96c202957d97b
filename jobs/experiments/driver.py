"""What the experiments' Spark drivers share: the lines they tell bench/ what happened with, table
properties, Spark's own REST API, and waiting for executors and for the caller."""

import json
import time
import urllib.request
from pathlib import Path

from pyspark.sql import SparkSession


def emit(kind: str, document: dict) -> None:
    print(f"{kind} {json.dumps(document, default=str)}", flush=True)


def progress(message: str) -> None:
    # stdout: spark-submit merges a Python driver's stderr into its own log
    print(f"PROGRESS {message}", flush=True)


def literal(text: str) -> str:
    """A Spark SQL string literal: backslash escapes (Spark reads 'a''b' as 'a' 'b', i.e. ab)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def properties(spark: SparkSession, tbl: str) -> dict[str, str]:
    return {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {tbl}").collect()}


def ui_json(spark: SparkSession, path: str):
    """The application's REST API (/api/v1/applications/APP/PATH) on its driver's UI."""
    app = spark.sparkContext.applicationId
    url = f"{spark.sparkContext.uiWebUrl}/api/v1/applications/{app}/{path}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def wait_for_executors(spark: SparkSession, count: int, timeout_s: float = 180) -> None:
    """Returns once `count` executors have registered: a run then measures the work, not
    executors starting (a cold run: on one worker, all of them)."""
    deadline = time.monotonic() + timeout_s
    while spark.sparkContext._jsc.sc().getExecutorIds().size() < count:
        if time.monotonic() > deadline:
            registered = spark.sparkContext._jsc.sc().getExecutorIds().size()
            raise SystemExit(f"{registered} of {count} executors registered in {timeout_s:.0f} s")
        time.sleep(0.2)


def wait_for_caller(go: Path, timeout_s: float = 600) -> None:
    """Says BARRIER and waits until the caller creates `go`: spark-submit gives the Python
    driver no stdin to read an answer from."""
    print(f"BARRIER {go}", flush=True)
    deadline = time.monotonic() + timeout_s
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no {go} within {timeout_s:.0f} s: the caller is gone")
        time.sleep(0.1)
    go.unlink()
