"""Experiment E1, sorted storage: the same shopping events in four Iceberg layouts, three queries
timed on each, with what Iceberg planned and what Spark read.

    spark-submit jobs/experiments/sorted_storage.py prepare --spec streams.json \\
        --input s3a://BUCKET/PREFIX/ --rows 10000000 --name r10000000 --files 32
    spark-submit jobs/experiments/sorted_storage.py query --name r10000000 --cold 3 --warm 5 \\
        [--barrier DIR]

prepare: the generator's events (JSON lines, the shopping-events schema of the stream spec) are
written to `lake.experiments.sorted_storage_NAME_random` in a random order (by a hash of the
event id); the target file size is its size over `--files`. Iceberg's `rewrite_data_files`
then cuts every layout's files to that size: this one as it is (binpack), and copies of it
sorted by timestamp, by product and timestamp, and z-ordered on both. A layout already built
from the same input is kept. The hour and product the queries ask for are picked from the data
(the median event's hour, the product with most events in it) and kept as table properties.

query: each query on each layout, `--cold` times in a new Spark application each (new executors,
new catalog; with `--barrier DIR` the job waits for the caller to create a file there first, so
it can drop the storage hosts' page caches) and `--warm` times in one application after a first
run. A RESULT line (JSON) per run: seconds, the rows it matched, Iceberg's scan metrics (data files
planned and skipped, bytes planned) and the bytes Spark's tasks read.
"""

import argparse
import os
import time
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.batch.session import job_session
from jobs.experiments.driver import (
    emit,
    literal,
    progress,
    properties,
    ui_json,
    wait_for_caller,
    wait_for_executors,
)
from jobs.lake import CATALOG
from jobs.streaming.config import load_spec
from jobs.streaming.tables import table_names

LAYER = "experiments"  # the namespace, as table_names calls it
NAMESPACE = f"{CATALOG}.{LAYER}"
TOPIC = "shopping-events"
# Layout -> the sort order `rewrite_data_files` gives it (None: written in random order).
LAYOUTS: dict[str, str | None] = {
    "random": None,
    "time": "timestamp ASC NULLS LAST",
    "product_time": "product_id ASC NULLS LAST, timestamp ASC NULLS LAST",
    "zorder": "zorder(product_id, timestamp)",
}
INPUT_PROPERTY = "sdp.experiment.input"
HOUR_PROPERTY = "sdp.experiment.hour"
PRODUCT_PROPERTY = "sdp.experiment.product"
TARGET_PROPERTY = "sdp.experiment.target-file-size"
FILES_PROPERTY = "sdp.experiment.files"
# Sums and a distinct count, not count(*) alone: Iceberg answers a bare count from metadata.
SELECT = "SELECT count(*) AS n, sum(price) AS revenue, count(DISTINCT user_id) AS users FROM {t}"
IN_HOUR = "timestamp >= TIMESTAMP '{hour}' AND timestamp < TIMESTAMP '{hour}' + INTERVAL 1 HOUR"
QUERIES = {
    "Q1 one hour": IN_HOUR,
    "Q2 one product": "product_id = {product}",
    "Q3 product in hour": "product_id = {product} AND " + IN_HOUR,
}


def table(name: str, layout: str) -> str:
    return f"{NAMESPACE}.sorted_storage_{name}_{layout}"


def query_sql(query: str, tbl: str, hour: str, product: str) -> str:
    where = QUERIES[query].format(hour=hour, product=literal(product))
    return f"{SELECT.format(t=tbl)} WHERE {where}"


def layout_files(spark: SparkSession, tbl: str) -> dict:
    row = spark.sql(
        f"SELECT count(*) AS files, sum(file_size_in_bytes) AS bytes, sum(record_count) AS rows "
        f"FROM {tbl}.files"
    ).first()
    return {"files": row.files, "bytes": row.bytes, "rows": row.rows}


def prepare(spark: SparkSession, args: argparse.Namespace) -> None:
    schema = load_spec(args.spec)[TOPIC].schema
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {NAMESPACE}")
    base, existing = table(args.name, "random"), table_names(spark, LAYER)
    for layout, order in LAYOUTS.items():
        tbl = table(args.name, layout)
        built = tbl in existing and {
            k: v for k, v in properties(spark, tbl).items() if k in (INPUT_PROPERTY, FILES_PROPERTY)
        } == {INPUT_PROPERTY: args.input, FILES_PROPERTY: str(args.files)}
        if built and not args.rebuild:
            emit("LAYOUT", {"layout": layout, "built_s": None, **layout_files(spark, tbl)})
            continue
        progress(f"building layout {layout}")
        started = time.perf_counter()
        # Dropped with its files: a replaced table would keep every earlier build's.
        spark.sql(f"DROP TABLE IF EXISTS {tbl} PURGE")
        if order is None:
            events = spark.read.schema(schema).json(args.input)
            spark.conf.set("spark.sql.shuffle.partitions", str(args.files))
            spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
            (
                events.orderBy(F.xxhash64("event_id"))
                .writeTo(tbl)
                .using("iceberg")
                .tableProperty("write.distribution-mode", "none")
                .create()
            )
            written = layout_files(spark, tbl)
            if written["rows"] != args.rows:
                raise SystemExit(f"{tbl} holds {written['rows']} rows, the input {args.rows}")
            target = written["bytes"] // args.files
            _pick_parameters(spark, tbl, target)
            _rewrite(spark, tbl, target, "binpack")  # random order kept, files cut to size
        else:
            spark.sql(f"CREATE TABLE {tbl} USING iceberg AS SELECT * FROM {base}")
            _rewrite(spark, tbl, int(properties(spark, base)[TARGET_PROPERTY]), "sort", order)
        # Marked built last: a layout a crash left half made is made again.
        spark.sql(
            f"ALTER TABLE {tbl} SET TBLPROPERTIES ('{INPUT_PROPERTY}' = {literal(args.input)}, "
            f"'{FILES_PROPERTY}' = '{args.files}')"
        )
        built = round(time.perf_counter() - started, 1)
        emit("LAYOUT", {"layout": layout, "built_s": built, **layout_files(spark, tbl)})


def _rewrite(spark: SparkSession, tbl: str, target: int, strategy: str, order: str = "") -> None:
    """Every file of `tbl` rewritten by Iceberg to `target` bytes: each layout's files are cut
    by the same writer to the same target size."""
    sort = f"sort_order => '{order}', " if order else ""
    name = tbl.split(".", 1)[1]
    spark.sql(
        f"CALL {CATALOG}.system.rewrite_data_files(table => '{name}', "
        f"strategy => '{strategy}', {sort}options => map('rewrite-all', 'true', "
        f"'target-file-size-bytes', '{target}', 'max-file-group-size-bytes', '{2**40}'))"
    )
    # Only the rewritten files stay: the layouts are big and nothing else expires them.
    now = spark.sql("SELECT current_timestamp() AS t").first().t
    spark.sql(
        f"CALL {CATALOG}.system.expire_snapshots(table => '{name}', "
        f"older_than => TIMESTAMP '{now}', retain_last => 1)"
    )


def _pick_parameters(spark: SparkSession, tbl: str, target: int) -> None:
    """The median event's hour, the product with most events in it and the target file size,
    kept with the table."""
    hour = (
        spark.sql(
            "SELECT date_trunc('HOUR', timestamp_micros(CAST(percentile_approx("
            f"unix_micros(timestamp), 0.5) AS BIGINT))) AS h FROM {tbl}"
        )
        .first()
        .h
    )
    product = (
        spark.sql(
            f"SELECT product_id, count(*) AS c FROM {tbl} WHERE product_id IS NOT NULL AND "
            f"{IN_HOUR.format(hour=hour)} GROUP BY product_id ORDER BY c DESC, product_id LIMIT 1"
        )
        .first()
        .product_id
    )
    spark.sql(
        f"ALTER TABLE {tbl} SET TBLPROPERTIES ('{HOUR_PROPERTY}' = '{hour}', "
        f"'{PRODUCT_PROPERTY}' = {literal(product)}, '{TARGET_PROPERTY}' = '{target}')"
    )


def scan_metrics(spark: SparkSession, job_group: str) -> dict:
    """Iceberg's scan metrics (the BatchScan node's SQL metrics) and the input bytes of the
    tasks of the SQL execution that ran `job_group`'s jobs."""
    deadline = time.monotonic() + 30
    while True:  # the UI's store lags the listener bus a little; it pages by 20 unless asked
        jobs = [j for j in ui_json(spark, "jobs") if j.get("jobGroup") == job_group]
        job_ids = {j["jobId"] for j in jobs}
        executions = [
            e for e in ui_json(spark, f"sql?details=true&planDescription=false&length={2**31 - 1}")
            if job_ids & set(e.get("successJobIds", []))
        ]  # fmt: skip
        if executions and executions[-1]["status"] == "COMPLETED":
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"no completed SQL execution for {job_group} in Spark's UI")
        time.sleep(0.2)
    scans = [n for n in executions[-1]["nodes"] if n["nodeName"].startswith("BatchScan")]
    if len(scans) != 1:
        raise RuntimeError(f"expected one Iceberg scan, the plan has {len(scans)}")
    metrics = {m["name"]: m["value"] for m in scans[0]["metrics"]}
    stage_ids = {s for j in jobs for s in j["stageIds"]}
    stages = [s for s in ui_json(spark, "stages") if s["stageId"] in stage_ids]
    return {
        "iceberg": metrics,
        "bytes_read": sum(s["inputBytes"] for s in stages if s["status"] == "COMPLETE"),
    }


def run_query(spark: SparkSession, sql: str, layout: str, query: str, mode: str, rep: int) -> dict:
    group = f"{layout}-{query}-{mode}-{rep}-{time.monotonic_ns()}"
    spark.sparkContext.setJobGroup(group, sql)
    started = time.perf_counter()
    row = spark.sql(sql).first()
    seconds = time.perf_counter() - started
    return {
        "layout": layout,
        "query": query,
        "mode": mode,
        "rep": rep,
        "cores": spark.sparkContext.defaultParallelism,
        "seconds": round(seconds, 3),
        "rows": row.n,
        "revenue": row.revenue,
        "users": row.users,
        **scan_metrics(spark, group),
    }


def query(args: argparse.Namespace) -> None:
    # The hour and product, read before any run: a cold run's clock then sees only its table.
    with job_session("sdp-e1-parameters") as spark:
        base = properties(spark, table(args.name, "random"))
    sql = {
        (layout, q): query_sql(q, table(args.name, layout), base[HOUR_PROPERTY],
                               base[PRODUCT_PROPERTY])
        for layout in LAYOUTS
        for q in QUERIES
    }  # fmt: skip
    runs = list(sql)
    for rep in range(args.cold):
        for layout, q in runs:
            if args.barrier:
                wait_for_caller(Path(args.barrier) / f"sdp-e1-{os.getpid()}-{rep}-{layout}-{q[:2]}")
            with job_session(f"sdp-e1-cold-{rep}") as spark:
                wait_for_executors(spark, 1)
                emit("RESULT", run_query(spark, sql[layout, q], layout, q, "cold", rep))
    if args.warm:
        with job_session("sdp-e1-warm") as spark:
            for layout, q in runs:
                run_query(spark, sql[layout, q], layout, q, "warm", -1)  # warm-up, not reported
                for rep in range(args.warm):
                    emit("RESULT", run_query(spark, sql[layout, q], layout, q, "warm", rep))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare")
    prep.add_argument("--spec", required=True, help="the stream spec (its shopping-events schema)")
    prep.add_argument("--input", required=True, help="the events' JSON lines (s3a://...)")
    prep.add_argument("--rows", type=int, required=True, help="shopping events in the input")
    prep.add_argument("--name", required=True, help="the tables' infix (several sizes coexist)")
    prep.add_argument("--files", type=int, default=32, help="target file size: data size / this")
    prep.add_argument("--rebuild", action="store_true", help="build layouts already built too")
    q = sub.add_parser("query")
    q.add_argument("--name", required=True)
    q.add_argument("--cold", type=int, default=3, help="cold runs of each query on each layout")
    q.add_argument("--warm", type=int, default=5, help="warm runs, after one not counted")
    q.add_argument("--barrier", help="before each cold run, wait for the caller's file in this dir")
    args = p.parse_args(argv)
    if args.command == "prepare":
        with job_session("sdp-e1-prepare") as spark:
            prepare(spark, args)
    else:
        query(args)


if __name__ == "__main__":
    main()
