"""The streaming job: Kafka → bronze/silver/gold Iceberg tables (+ dead letters, + serving).

    spark-submit jobs/streaming/main.py --spec streams.json --bootstrap HOST:9092 \\
        --checkpoint s3a://sdp-checkpoints/stream [--trigger-seconds 5] [--watermark-minutes 10]

The `lake` catalog and S3A come from spark-defaults (the spark role writes them). The serving
database's password comes from the environment (SDP_SERVING_PASSWORD), never the command line.
argparse, not typer: the driver's host has pyspark and nothing else.
"""

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from jobs.streaming.batch import BatchWriter
from jobs.streaming.config import (
    SpecError,
    StreamSettings,
    TopicSpec,
    add_serving_arguments,
    kafka_properties,
    load_spec,
    serving_settings,
)
from jobs.streaming.gold import GOLD_FROM_TOPIC
from jobs.streaming.metrics import StreamMetrics
from jobs.streaming.serving import Serving
from jobs.streaming.tables import ensure_tables, topic_table_schema

log = logging.getLogger("sdp.stream")


def parse_args(argv: list[str]) -> tuple[Path, StreamSettings]:
    p = argparse.ArgumentParser(prog="jobs.streaming.main", description=__doc__.split("\n")[0])
    p.add_argument("--spec", type=Path, required=True, help="stream spec JSON")
    p.add_argument("--bootstrap", required=True, help="Kafka brokers, host:port[,host:port]")
    p.add_argument("--kafka-user", default="", help="Kafka login; its password: SDP_KAFKA_PASSWORD")
    p.add_argument("--kafka-truststore", default="", help="CA certificate (PEM) for Kafka's TLS")
    p.add_argument("--checkpoint", required=True, help="s3a://bucket/prefix for the checkpoint")
    p.add_argument("--bucket-prefix", default="sdp-")
    p.add_argument("--trigger-seconds", type=float, default=5.0)
    p.add_argument("--watermark-minutes", type=float, default=10.0)
    p.add_argument("--future-minutes", type=float, default=60.0)
    p.add_argument("--max-offsets-per-trigger", type=int)
    p.add_argument("--starting-offsets", default="earliest", choices=["earliest", "latest"])
    p.add_argument("--query-name", default="sdp-stream")
    p.add_argument("--topics", default="", help="comma-separated; default every spec topic")
    p.add_argument("--metrics-address", help="HOST:PORT to serve the stream's metrics at")
    p.add_argument("--available-now", action="store_true",
                   help="process the records Kafka holds now, then stop")  # fmt: skip
    add_serving_arguments(p)
    args = p.parse_args(argv)
    try:
        serving = serving_settings(args)
        password = os.environ.get("SDP_KAFKA_PASSWORD", "")
        if args.kafka_user and not password:
            raise ValueError(
                f"--kafka-user {args.kafka_user} needs SDP_KAFKA_PASSWORD in the environment"
            )
        settings = StreamSettings(
            bootstrap=args.bootstrap,
            checkpoint=args.checkpoint,
            bucket_prefix=args.bucket_prefix,
            trigger_seconds=args.trigger_seconds,
            watermark_minutes=args.watermark_minutes,
            future_minutes=args.future_minutes,
            max_offsets_per_trigger=args.max_offsets_per_trigger,
            starting_offsets=args.starting_offsets,
            query_name=args.query_name,
            topics=[t for t in args.topics.split(",") if t],
            serving=serving,
            metrics_address=args.metrics_address,
            available_now=args.available_now,
            kafka_user=args.kafka_user,
            kafka_truststore=args.kafka_truststore,
            kafka_password=password,
        )
    except ValueError as exc:
        p.error(str(exc))
    return args.spec, settings


def gold_examples(spark: SparkSession, spec: dict[str, TopicSpec]) -> dict:
    """Each gold table with an empty frame of its rows: the transforms define their schemas."""
    examples = {}
    for topic, outputs in GOLD_FROM_TOPIC.items():
        empty = spark.createDataFrame([], topic_table_schema(spec[topic]))
        for table, transform in outputs:
            examples[table] = transform(empty)
    return examples


def start(
    spark: SparkSession,
    spec: dict[str, TopicSpec],
    settings: StreamSettings,
    metrics: StreamMetrics | None = None,
) -> StreamingQuery:
    """Create what is missing (tables, serving tables) and start the query."""
    topics = settings.topics or list(spec)
    unknown = [t for t in topics if t not in spec]
    if unknown:
        raise SpecError(f"topics not in the stream spec: {', '.join(unknown)}")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    examples = gold_examples(spark, spec)
    created = ensure_tables(spark, spec, settings, examples)
    if created:
        log.info("created tables: %s", ", ".join(created))
    serving = None
    if settings.serving is not None:
        serving = Serving(spark, settings.serving)
        serving.ensure_tables({t: e.schema for t, e in examples.items()})
    reader = (
        spark.readStream.format("kafka")
        .options(
            **{
                f"kafka.{k}": v
                for k, v in kafka_properties(
                    settings.bootstrap,
                    settings.kafka_user,
                    settings.kafka_password,
                    truststore=settings.kafka_truststore,
                ).items()
            }
        )
        .option("subscribe", ",".join(topics))
        .option("startingOffsets", settings.starting_offsets)
        # Offsets gone before they were read (retention) stop the query instead of being skipped.
        .option("failOnDataLoss", "true")
    )
    if settings.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", settings.max_offsets_per_trigger)
    trigger = (
        {"availableNow": True}
        if settings.available_now
        else {"processingTime": f"{settings.trigger_seconds} seconds"}
    )
    return (
        reader.load()
        .writeStream.queryName(settings.query_name)
        .option("checkpointLocation", settings.checkpoint)
        .trigger(**trigger)
        .foreachBatch(BatchWriter(spark, spec, settings, serving, metrics))
        .start()
    )


def update_metrics(metrics: StreamMetrics, query: StreamingQuery) -> None:
    """The query's last progress into the metrics; a failure here never stops the stream."""
    try:
        if (progress := query.lastProgress) is not None:
            metrics.progress(json.loads(progress.json))
    except Exception:  # the metrics are a view: the stream is what matters
        log.warning("stream metrics not updated", exc_info=True)


def kafka_metrics_bug(exc: StreamingQueryException) -> bool:
    """SPARK-55271 (Spark 4.1.1): when a restarted query's first batch is the replay of a
    planned one, the Kafka source is asked for metrics it has not computed and progress
    reporting throws, after the batch committed. Starting the query again goes on from there."""
    trace = getattr(exc, "_stackTrace", None) or str(exc)
    return "NullPointerException" in trace and "KafkaMicroBatchStream" in trace


# Spark caches 100 generated classes by default; a batch runs some 240, so each batch compiled
# them all again (~20 ms each, in the driver and the executors). With room for them a warm
# batch compiles ~18, those whose code holds the batch's own literals (measured on the unit
# SparkSession: 240 -> 18 compiles, 6.7 -> 5.6 s a batch). Static: set before the session.
CODEGEN_CACHE = ("spark.sql.codegen.cache.maxEntries", "1000")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    spec_path, settings = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spark = SparkSession.builder.appName(settings.query_name).config(*CODEGEN_CACHE).getOrCreate()
    spark.sparkContext.setLogLevel("WARN")  # the journal keeps this job's own lines readable
    started_file = os.environ.get("SDP_STREAM_STARTED_FILE")
    metrics = StreamMetrics(settings.trigger_seconds)
    if settings.metrics_address:
        metrics.serve(settings.metrics_address)
    restarts = 0
    while True:
        query = start(spark, spec, settings, metrics)
        log.info("query %s started (checkpoint %s)", query.id, settings.checkpoint)
        if started_file:  # systemd's runtime directory: it goes when the unit stops
            Path(started_file).write_text(f"{query.id}\n")
        try:
            # Progress (rates, offsets) for the metrics every trigger; raises if the query failed.
            while not query.awaitTermination(settings.trigger_seconds):
                update_metrics(metrics, query)
            return 0
        except StreamingQueryException as exc:
            # In this JVM, not by systemd: a new JVM costs some 40 s before its first batch.
            if not kafka_metrics_bug(exc) or restarts == 2:
                raise
            restarts += 1
            log.warning("query stopped by SPARK-55271 after a replayed batch; starting it again")


if __name__ == "__main__":
    sys.exit(main())
