"""Experiment E2, distributed processing: three Spark jobs timed on the workers the cluster has now
(bench/scaling.py scales it out between runs).

    spark-submit jobs/experiments/scaling.py prepare --spec streams.json \\
        --input s3a://BUCKET/PREFIX/ --products s3a://BUCKET/products.csv --name r10000000
    spark-submit jobs/experiments/scaling.py run --name r10000000 --executors 2 --reps 3

prepare: the generator's events (JSON lines, the shopping-events schema of the stream spec) to
`lake.experiments.scaling_NAME_events` in `--files` files, the generator's products to
`..._products`; both kept when already built from the same input.

run: waits for `--executors` executors, then runs each job once untimed (the JVMs' JIT, the
catalog's caches) and `--reps` times timed. A RESULT line (JSON) per timed run: seconds, the
cores the application had, its result ([key, rows, value], a row per category or item), and
per executor host the CPU seconds its tasks used. A last EXECUTORS line: each executor's host,
cores and peak memory over the application.
"""

import argparse
import time

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.batch.session import job_session
from jobs.experiments.driver import emit, progress, properties, ui_json, wait_for_executors
from jobs.lake import CATALOG
from jobs.streaming.config import load_spec
from jobs.streaming.tables import table_names

LAYER = "experiments"
TOPIC = "shopping-events"
INPUT_PROPERTY = "sdp.experiment.input"
FILES_PROPERTY = "sdp.experiment.files"
WINDOW_HOURS = 24
# The same plan on every count of workers: partitions fixed, the join a shuffle join (the
# products would otherwise be broadcast, and the join would not move the events at all).
SETTINGS = {
    "spark.sql.shuffle.partitions": "32",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "false",
    "spark.sql.autoBroadcastJoinThreshold": "-1",
}


def by_category(events: DataFrame, products: DataFrame) -> DataFrame:
    """A full aggregation: events and revenue per category."""
    return events.groupBy(F.col("category").alias("key")).agg(
        F.count("*").alias("n"), F.sum("price").cast("double").alias("value")
    )


def with_products(events: DataFrame, products: DataFrame) -> DataFrame:
    """A join: the events of catalogued products, their revenue per item (a product's kind)."""
    return (
        events.join(products.select("product_id", "item"), "product_id")
        .groupBy(F.col("item").alias("key"))
        .agg(F.count("*").alias("n"), F.sum("price").cast("double").alias("value"))
    )


def moving_average(events: DataFrame, products: DataFrame) -> DataFrame:
    """A window function: each category's hourly revenue, its moving average over the last
    `WINDOW_HOURS` hours that had sales; per category, the hours and the sum of those means."""
    frame = Window.partitionBy("category").orderBy("hour").rowsBetween(1 - WINDOW_HOURS, 0)
    hourly = (
        events.where(F.col("price").isNotNull())
        .groupBy("category", F.date_trunc("HOUR", "timestamp").alias("hour"))
        .agg(F.sum("price").cast("double").alias("revenue"))
    )
    return (
        hourly.withColumn("mean", F.avg("revenue").over(frame))
        .groupBy(F.col("category").alias("key"))
        .agg(F.count("*").alias("n"), F.sum("mean").alias("value"))
    )


JOBS = {
    "aggregate": by_category,
    "join": with_products,
    "window": moving_average,
}


def table(name: str, what: str) -> str:
    return f"{CATALOG}.{LAYER}.scaling_{name}_{what}"


def prepare(spark: SparkSession, args: argparse.Namespace) -> None:
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG}.{LAYER}")
    existing = table_names(spark, LAYER)
    schema = load_spec(args.spec)[TOPIC].schema
    sources = {
        "events": (args.input, lambda: spark.read.schema(schema).json(args.input)),
        "products": (args.products, lambda: spark.read.csv(args.products, header=True)),
    }
    for what, (source, read) in sources.items():
        tbl = table(args.name, what)
        made = {INPUT_PROPERTY: source, FILES_PROPERTY: str(args.files)}
        if tbl in existing and {k: properties(spark, tbl).get(k) for k in made} == made:
            progress(f"{tbl}: kept")
            continue
        progress(f"{tbl}: writing")
        spark.sql(f"DROP TABLE IF EXISTS {tbl} PURGE")
        data = read()
        if what == "events":
            data = data.repartition(args.files)
        writer = data.writeTo(tbl).using("iceberg")
        for key, value in made.items():
            writer = writer.tableProperty(key, value)
        writer.create()
    rows = spark.table(table(args.name, "events")).count()
    if rows != args.rows:
        raise SystemExit(f"{table(args.name, 'events')} holds {rows} rows, the input {args.rows}")


def executors(spark: SparkSession) -> list[dict]:
    return [e for e in ui_json(spark, "executors") if e["id"] != "driver"]


def task_cpu_by_host(spark: SparkSession, job_group: str) -> dict[str, float]:
    """The CPU seconds the tasks of `job_group`'s jobs used, per executor host. Read once the
    UI's store, which lags the listener bus a little, has every one of those jobs finished (a
    job ends after its tasks' events)."""
    deadline = time.monotonic() + 30
    while True:
        jobs = [j for j in ui_json(spark, "jobs") if j.get("jobGroup") == job_group]
        if jobs and all(j["status"] in ("SUCCEEDED", "FAILED") for j in jobs):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the jobs of {job_group} did not finish in Spark's UI")
        time.sleep(0.2)
    hosts = {e["id"]: e["hostPort"].rsplit(":", 1)[0] for e in executors(spark)}
    stage_ids = {s for j in jobs for s in j["stageIds"]}
    cpu: dict[str, float] = dict.fromkeys(sorted(set(hosts.values())), 0.0)
    for stage in stage_ids:
        for attempt in ui_json(spark, f"stages/{stage}?details=true&taskStatus=SUCCESS"):
            for task in attempt.get("tasks", {}).values():
                host = hosts.get(task["executorId"], task["host"])
                cpu[host] = cpu.get(host, 0.0) + task["taskMetrics"]["executorCpuTime"] / 1e9
    return {h: round(s, 2) for h, s in cpu.items()}


def run(args: argparse.Namespace) -> None:
    with job_session(f"sdp-e2-{args.executors}-workers") as spark:
        for key, value in SETTINGS.items():
            spark.conf.set(key, value)
        wait_for_executors(spark, args.executors)
        events, products = (spark.table(table(args.name, w)) for w in ("events", "products"))
        rows_in = events.count()
        cores = sum(e["totalCores"] for e in executors(spark))
        for job, build in JOBS.items():
            for rep in range(-1, args.reps):  # -1: the untimed run
                progress(f"{job}: run {rep + 1} of {args.reps}" if rep >= 0 else f"{job}: warm-up")
                group = f"{job}-{rep}-{time.monotonic_ns()}"
                spark.sparkContext.setJobGroup(group, job)
                started = time.perf_counter()
                result = build(events, products).collect()
                seconds = time.perf_counter() - started
                if rep < 0:
                    continue
                emit("RESULT", {
                    "job": job, "rep": rep, "seconds": round(seconds, 3), "rows_in": rows_in,
                    "executors": args.executors, "cores": cores,
                    "result": sorted([r.key, r.n, r.value] for r in result),
                    "cpu_s": task_cpu_by_host(spark, group),
                })  # fmt: skip
        emit("EXECUTORS", {"executors": [{
            "host": e["hostPort"].rsplit(":", 1)[0], "cores": e["totalCores"],
            "peak_heap": (e.get("peakMemoryMetrics") or {}).get("JVMHeapMemory"),
            "max_memory": e["maxMemory"],
        } for e in executors(spark)]})  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare")
    prep.add_argument("--spec", required=True, help="the stream spec (its shopping-events schema)")
    prep.add_argument("--input", required=True, help="the events' JSON lines (s3a://...)")
    prep.add_argument("--products", required=True, help="the products' CSV (s3a://...)")
    prep.add_argument("--rows", type=int, required=True, help="shopping events in the input")
    prep.add_argument("--name", required=True, help="the tables' infix (several sizes coexist)")
    prep.add_argument("--files", type=int, default=32, help="data files of the events")
    r = sub.add_parser("run")
    r.add_argument("--name", required=True)
    r.add_argument("--executors", type=int, required=True, help="wait for this many first")
    r.add_argument("--reps", type=int, default=3, help="timed runs of each job")
    args = p.parse_args(argv)
    if args.command == "prepare":
        with job_session("sdp-e2-prepare") as spark:
            prepare(spark, args)
    else:
        run(args)


if __name__ == "__main__":
    main()
