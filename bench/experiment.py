"""What the experiments share on the control node: their input on the lake (the generator's
shopping events, made once per seed, days and rows) and their Spark job on the master."""

import argparse
import gzip
import json
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from generator.catalog import load_catalog
from generator.simulator import SHOPPING, Simulator
from sdp.cluster.spec import CLUSTER_FILE
from sdp.paths import REPO_ROOT, work_dir
from sdp.platform import settings
from sdp.platform.checks import s3_client, s3_endpoint
from sdp.platform.inventory import Inventory
from sdp.platform.jobs import job_error, spark_submit

START = 1_714_532_400  # 2024-05-01 03:00 UTC: fixed, so a seed always gives the same events
PART_ROWS = 1_000_000  # rows per gzipped part: Spark reads the parts in parallel
MANIFEST = "_manifest.json"


def cluster_arguments(p: argparse.ArgumentParser, name: str, profile: str, pool: str) -> None:
    """A benchmark's own cluster: a cluster.yml profile copied to --work (SpecCopy), its workers'
    pool, where the results go (docs/results/NAME) and whether to remove it at the end."""
    p.add_argument("--work", type=Path, default=work_dir() / f"bench-{name}",
                   help="the cluster's spec copy and inventory")  # fmt: skip
    p.add_argument("--spec", type=Path, default=CLUSTER_FILE, help="copied to --work if new")
    p.add_argument("--profile", default=profile)
    p.add_argument("--pool", default=pool, help="the profile's workers' pool")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "results" / name)
    p.add_argument("--destroy", action="store_true", help="remove the cluster's hosts at the end")


def input_arguments(p: argparse.ArgumentParser) -> None:
    """The options that name the input: the generator's events, made once per these three."""
    p.add_argument("--rows", type=int, default=10_000_000, help="shopping events")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--days", type=float, default=7, help="simulated days the events span")


def warehouse(inv: Inventory) -> tuple[str, str]:
    bucket, _, prefix = inv.var("sdp_warehouse").removeprefix("s3://").partition("/")
    return bucket, prefix


def ensure_input(inv: Inventory, seed: int, days: float, rows: int) -> str:
    """The s3a:// prefix of the events' parts, generated and uploaded unless already there."""
    bucket, prefix = warehouse(inv)
    key = f"{prefix}experiments/input/seed{seed}-days{days:g}-rows{rows}/"
    s3 = s3_client(inv, s3_endpoint(inv))
    url = f"s3a://{bucket}/{key}"
    if s3.list_objects_v2(Bucket=bucket, Prefix=key + MANIFEST)["KeyCount"]:
        print(f"input {url}: already there", file=sys.stderr)
        return url
    sim = Simulator(load_catalog(), seed=seed, start=START, rate=rows / (days * 86400))
    produced, started = 0, time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for part in range(0, rows, PART_ROWS):
            n, path = min(PART_ROWS, rows - part), Path(tmp) / "part.json.gz"
            with gzip.open(path, "wb", compresslevel=1) as out:
                written = 0
                while written < n:
                    for topic, _, record in sim.step():
                        if topic == SHOPPING and written < n:
                            out.write(orjson.dumps(record) + b"\n")
                            written += 1
            s3.upload_file(str(path), bucket, f"{key}part-{part // PART_ROWS:05d}.json.gz")
            produced += n
            rate = produced / (time.monotonic() - started)
            print(f"  generated and uploaded {produced:,}/{rows:,} events ({rate:,.0f}/s)",
                  file=sys.stderr)  # fmt: skip
    manifest = {"rows": rows, "seed": seed, "days": days, "start": START}
    s3.put_object(Bucket=bucket, Key=key + MANIFEST, Body=json.dumps(manifest).encode())
    return url


def succeeds_on(inv: Inventory, host: str, command: str) -> bool:
    result = subprocess.run(inv.ssh(host, command), capture_output=True, timeout=120)
    return result.returncode == 0


def _document(text: str) -> dict | None:
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def fields(d: dict) -> str:
    """A document as a line of progress."""
    return ", ".join(f"{k}={v}" for k, v in d.items())


def run_job(
    inv: Inventory,
    job: str,
    name: str,
    args: list[str],
    brief: Callable[[dict], str] = fields,
    on_barrier: Callable[[], None] = lambda: None,
) -> list[tuple]:
    """`job` (a path under jobs/) on the master as the spark user; its (KIND, document) lines,
    each shown in `brief`. A BARRIER line calls `on_barrier`, then creates the file the job
    waits for. If this process fails or is interrupted, the job on the master is killed too
    (ssh without a terminal would leave it)."""
    master, user = inv.first("spark_master"), settings.role("spark", "spark_user")
    command = f"cd /tmp && runuser -u {user} -- {spark_submit(job, name, args)}"
    out: list[tuple] = []
    other: list[str] = []  # the driver's own output: spark-submit merges its stderr there
    with subprocess.Popen(inv.ssh(master, command), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:  # fmt: skip
        log: list[str] = []  # Spark's log, kept without blocking the job
        stderr = threading.Thread(
            target=lambda: log.extend(ln.rstrip("\n") for ln in proc.stderr), daemon=True
        )
        stderr.start()
        try:
            for line in proc.stdout:
                kind, _, rest = line.rstrip("\n").partition(" ")
                if kind == "BARRIER":
                    on_barrier()
                    touch = f"runuser -u {user} -- touch {shlex.quote(rest)}"
                    if not succeeds_on(inv, master, touch):
                        sys.exit(f"could not create {rest} on {master}: the cold run cannot start")
                elif kind == "PROGRESS":
                    print(f"  {rest}", file=sys.stderr)
                elif kind.isupper() and (document := _document(rest)) is not None:
                    out.append((kind, document))  # RESULT, LAYOUT, ...
                    print(f"  {kind.lower()}: {brief(document)}", file=sys.stderr)
                else:
                    other.append(line.rstrip("\n"))
        except BaseException:
            proc.kill()
            succeeds_on(inv, master, f"pkill -u {user} -f {shlex.quote(job)}")
            raise
        proc.wait()
        stderr.join()
    if proc.returncode != 0:
        sys.exit(f"{job} {args[0]} failed ({proc.returncode}): {job_error(other or log)}")
    return out
