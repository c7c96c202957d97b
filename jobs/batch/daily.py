"""The daily batch's Spark jobs, one per task of the `daily_analytics` DAG, for one shop day.

    spark-submit jobs/batch/daily.py quality|repair|sales|reviews|metrics|report \
        --date 2024-05-01 --zone Asia/Seoul --spec streams.json [--lexicon my_lexicon.tsv] \
        [--serving-jdbc-url jdbc:postgresql://HOST:5432/serving]

Each reads the day from silver (and bronze and the dead letters for `quality`) and replaces the
day's rows of its gold tables in one commit, so a re-run of a date gives the same rows and a
backfill fills any day; with --serving-jdbc-url (the password from SDP_SERVING_PASSWORD) the same
rows replace the day's in the table of that name in PostgreSQL's serving schema, for the
dashboards. `repair` upserts the stream's gold windows of the day that late events changed (and
their serving copies). `quality` fails
(exit 1) on any check that does not pass, naming it and its numbers; the results are written
first. argparse: the driver has pyspark and nothing else.
"""

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.batch import metrics, quality, report, reviews, sales
from jobs.batch.day import Day
from jobs.batch.session import job_session, serving_session
from jobs.streaming.batch import upsert_windows
from jobs.streaming.config import (
    CATALOG,
    DEAD_LETTER_TABLE,
    add_serving_arguments,
    load_spec,
    serving_settings,
    table_location,
)
from jobs.streaming.gold import GOLD_FROM_TOPIC, changed_windows
from jobs.streaming.serving import Serving
from jobs.streaming.tables import replace_rows, table_names

log = logging.getLogger("sdp.batch")

EVENTS_TOPIC = "shopping-events"
SESSIONS_TOPIC = "sessions"
REVIEWS_TOPIC = "reviews"
DQ_RESULTS = f"{CATALOG}.gold.dq_results"
# Gold table → its sort order within the day.
SORT = {
    DQ_RESULTS: ["check"],
    f"{CATALOG}.gold.daily_sales": ["category"],
    f"{CATALOG}.gold.daily_traffic": ["hour", "event_type"],
    f"{CATALOG}.gold.daily_hourly_sales": ["hour"],
    f"{CATALOG}.gold.daily_funnel": ["product_id"],
    f"{CATALOG}.gold.daily_metrics": ["metric"],
    f"{CATALOG}.gold.daily_review_aspects": ["aspect"],
    f"{CATALOG}.gold.daily_review_words": ["polarity", "word"],
    f"{CATALOG}.gold.daily_ratings": ["rating"],
    f"{CATALOG}.gold.daily_product_ratings": ["product_id"],
}


class QualityFailed(Exception):
    pass


class Batch:
    def __init__(
        self,
        spark: SparkSession,
        spec_path: Path,
        day: Day,
        bucket_prefix: str,
        lexicon: reviews.Lexicon | None = None,
        serving: Serving | None = None,
    ):
        self.spark, self.day, self.bucket_prefix = spark, day, bucket_prefix
        self.spec = load_spec(spec_path)
        self.lexicon, self.serving = lexicon, serving

    def silver(self, topic: str) -> DataFrame:
        return self._layer(topic, "silver")

    def _layer(self, topic: str, layer: str) -> DataFrame:
        table = self.spec[topic].table
        rows = self.spark.table(table.fqn(layer))
        return rows.where(self.day.contains(F.col(table.time)))

    def replace_day(self, fqn: str, rows: DataFrame) -> None:
        """The day's rows of a gold table replaced by `rows` in one commit (created if missing),
        and in its serving copy (the dashboards' Daily analytics) when the job has one."""
        rows = rows.select(F.lit(self.day.day).alias("day"), *rows.columns)
        of_day = F.col("day") == F.lit(self.day.day)
        replace_rows(self.spark, fqn, rows, table_location(self.bucket_prefix, *fqn.split(".")[1:]),
                     ["day"], SORT[fqn], of_day)  # fmt: skip
        log.info("%s: %s replaced", fqn, self.day)
        if self.serving is not None:
            name = fqn.rsplit(".", 1)[-1]
            served = self.serving.replace(name, self.spark.table(fqn).where(of_day), self.day.day)
            log.info("serving.%s: %s, %d rows", name, self.day, served)

    def quality(self) -> None:
        bronze = self._layer(EVENTS_TOPIC, "bronze")
        dead = quality.dead_letters_of_day(self.spark.table(DEAD_LETTER_TABLE), EVENTS_TOPIC,
                                           self.day)  # fmt: skip
        now = datetime.now(UTC).replace(tzinfo=None)
        results = quality.checks(bronze, self.silver(EVENTS_TOPIC), dead, now)
        schema = T.StructType(
            [T.StructField("check", T.StringType()), T.StructField("observed", T.DoubleType()),
             T.StructField("threshold", T.DoubleType()), T.StructField("passed", T.BooleanType()),
             T.StructField("checked_at", T.TimestampType())]
        )  # fmt: skip
        rows = [(r.check, float(r.observed), float(r.threshold), r.passed, now) for r in results]
        self.replace_day(DQ_RESULTS, self.spark.createDataFrame(rows, schema))
        for r in results:
            print(f"DQ {self.day} {'PASS' if r.passed else 'FAIL'} {r}", flush=True)
        failed = [r for r in results if not r.passed]
        if failed:
            raise QualityFailed(
                f"data quality of {self.day} failed: " + "; ".join(str(r) for r in failed)
            )

    def repair(self) -> None:
        """The day's gold windows recomputed from silver; those that differ replaced (late
        events: in silver, but the stream had closed their windows), and their serving copies."""
        lo, hi = self.day.micros
        for topic, outputs in GOLD_FROM_TOPIC.items():
            silver = self.silver(topic).localCheckpoint()
            for table, transform in outputs:
                recomputed = transform(silver).localCheckpoint()
                gold = self.spark.table(table.fqn).where(self.day.contains(F.col("window_start")))
                windows = [r.window_start for r in changed_windows(recomputed, gold).collect()]
                if windows:
                    rows = recomputed.where(F.col("window_start").isin(windows))
                    upsert_windows(table, rows.withColumn("updated_at", F.current_timestamp()),
                                   lo, hi, self.serving)  # fmt: skip
                print(f"REPAIRED {table.fqn} {self.day} windows={len(windows)}", flush=True)

    def sales(self) -> None:
        events = self.silver(EVENTS_TOPIC).cache()
        self.replace_day(f"{CATALOG}.gold.daily_sales", sales.by_category(events))
        self.replace_day(f"{CATALOG}.gold.daily_traffic", sales.hourly_traffic(events, self.day))
        self.replace_day(f"{CATALOG}.gold.daily_hourly_sales", sales.hourly_sales(events, self.day))
        self.replace_day(f"{CATALOG}.gold.daily_funnel", sales.product_funnel(events))

    def reviews(self) -> None:
        written = self.silver(REVIEWS_TOPIC)
        analysed = reviews.analyse(written, self.lexicon or reviews.Lexicon.load()).cache()
        gold = f"{CATALOG}.gold"
        self.replace_day(f"{gold}.daily_review_aspects", reviews.aspect_sentiment(analysed))
        self.replace_day(f"{gold}.daily_review_words", reviews.word_counts(analysed))
        self.replace_day(f"{gold}.daily_ratings", reviews.rating_distribution(written))
        self.replace_day(f"{gold}.daily_product_ratings", reviews.product_ratings(analysed))

    def metrics(self) -> None:
        values = metrics.daily_metrics(self.silver(EVENTS_TOPIC), self.silver(SESSIONS_TOPIC))
        schema = "metric string, value double"
        self.replace_day(f"{CATALOG}.gold.daily_metrics",
                         self.spark.createDataFrame(list(values.items()), schema))  # fmt: skip
        for name, value in values.items():
            print(f"METRIC {self.day} {name} {value}", flush=True)

    def report_page(self) -> str:
        """The day's HTML report from its gold rows (tables not written yet give empty sections)."""
        existing = table_names(self.spark, "gold")
        of_day = F.col("day") == F.lit(self.day.day)
        gold = {
            name: [r.asDict() for r in self.spark.table(fqn).where(of_day).collect()]
            for name in report.TABLES
            if (fqn := f"{CATALOG}.gold.{name}") in existing
        }
        return report.render(str(self.day.day), gold)

    def report(self) -> None:
        bucket, key = report.location(self.bucket_prefix, self.day.day)
        uri = f"s3a://{bucket}/{key}"
        write_text(self.spark, uri, self.report_page())
        print(f"REPORT {self.day} {uri}", flush=True)


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """One file through Spark's Hadoop filesystems (s3a:// with the lake's settings)."""
    path = spark._jvm.org.apache.hadoop.fs.Path(uri)
    out = path.getFileSystem(spark._jsc.hadoopConfiguration()).create(path, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()


TASKS = ("quality", "repair", "sales", "reviews", "metrics", "report")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="jobs.batch.daily", description=__doc__.split("\n")[0])
    p.add_argument("task", choices=TASKS)
    p.add_argument("--date", required=True, help="the shop's day, YYYY-MM-DD")
    p.add_argument("--zone", required=True, help="the shop's time zone, e.g. Asia/Seoul")
    p.add_argument("--spec", type=Path, required=True, help="stream spec JSON")
    p.add_argument("--bucket-prefix", default="sdp-")
    p.add_argument(
        "--lexicon",
        type=Path,
        default=reviews.LEXICON,
        help="sentiment lexicon (TSV, see jobs/batch/review_lexicon.tsv)",
    )
    add_serving_arguments(p)  # gold's serving copies; `repair` upserts the windows it replaces
    args = p.parse_args(argv)
    try:
        args.day = Day.parse(args.date, args.zone)
        args.lexicon = reviews.Lexicon.load(args.lexicon)
        args.serving = serving_settings(args)
    except ValueError as exc:  # LexiconError included
        p.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    with (
        job_session(f"sdp-daily-{args.task}") as spark,
        serving_session(spark, args.serving) as serving,
    ):
        batch = Batch(spark, args.spec, args.day, args.bucket_prefix, args.lexicon, serving)
        try:
            getattr(batch, args.task)()
        except QualityFailed as exc:
            print(f"FAILED {exc}", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
