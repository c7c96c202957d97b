"""The `olist_analytics` DAG's Spark jobs, over the Olist CDC tables in silver.

    spark-submit jobs/batch/olist_analytics.py delivery segments monthly --spec streams.json \
        [--bucket-prefix sdp-] [--serving-jdbc-url jdbc:postgresql://HOST:5432/serving]

The jobs named run in turn in one Spark application (one JVM start, some 20 s here, for all).

Silver holds each order, item and product's latest change, so a run computes over everything
replayed so far. Each job replaces its gold tables (`lake.gold.olist_*`) whole, and their copies
in PostgreSQL's serving schema for the dashboards (the password from SDP_SERVING_PASSWORD): a
re-run gives the same rows.
"""

import argparse
import logging
import sys
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.batch import olist
from jobs.batch.session import job_session, serving_session
from jobs.streaming.config import (
    CATALOG,
    add_serving_arguments,
    load_spec,
    serving_settings,
    table_location,
)
from jobs.streaming.serving import Serving
from jobs.streaming.tables import replace_rows

log = logging.getLogger("sdp.olist")

TASKS = ("delivery", "segments", "monthly")


class OlistAnalytics:
    def __init__(
        self, spark: SparkSession, spec_path: Path, bucket_prefix: str, serving: Serving | None
    ):
        self.spark, self.bucket_prefix, self.serving = spark, bucket_prefix, serving
        self.spec = load_spec(spec_path)

    def silver(self, table: str) -> DataFrame:
        return self.spark.table(self.spec[f"olist.{table}"].table.fqn("silver"))

    def publish(self, name: str, rows: DataFrame, sort: list[str], serve: bool = True) -> None:
        """Gold table olist_<name> replaced by `rows`, and its serving copy."""
        name = f"olist_{name}"
        fqn = f"{CATALOG}.gold.{name}"
        location = table_location(self.bucket_prefix, "gold", name)
        replace_rows(self.spark, fqn, rows, location, [], sort, F.lit(True))
        log.info("%s replaced", fqn)
        if serve and self.serving is not None:
            served = self.serving.replace(name, self.spark.table(fqn))
            log.info("serving.%s: %d rows", name, served)

    def categories(self) -> DataFrame:
        return olist.product_categories(
            self.silver("products"), self.silver("product_category_name_translation")
        )

    def sold_items(self) -> DataFrame:
        return olist.sold_items(self.silver("orders"), self.silver("order_items"))

    def delivery(self) -> None:
        orders = self.silver("orders")
        by_order = olist.order_categories(self.silver("order_items"), self.categories())
        delivery = olist.order_delivery(orders, self.silver("customers"), by_order).cache()
        # Per order: for drill-down in the lake, too big a copy for the dashboards' database.
        self.publish("order_delivery", delivery, ["purchased_at", "order_id"], serve=False)
        self.publish("delivery_by_state", olist.delivery_by(delivery, "state"), ["state"])
        self.publish("delivery_by_category", olist.delivery_by(delivery, "category"),
                     ["category"])  # fmt: skip
        self.publish("status_lead_times", olist.status_lead_times(orders), ["status"])
        late = delivery.where(F.col("late")).count()
        done = delivery.where(F.col("delivered_at").isNotNull()).count()
        print(f"OLIST delivered {done} late {late}", flush=True)

    def segments(self) -> None:
        segments = olist.product_segments(self.sold_items(), self.categories())
        self.publish("product_segments", segments, ["segment", "product_id"])

    def monthly(self) -> None:
        self.publish("monthly_sales", olist.monthly_sales(self.sold_items()), ["month"])


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="olist_analytics", description=__doc__.split("\n")[0])
    p.add_argument("tasks", nargs="+", choices=TASKS)
    p.add_argument("--spec", type=Path, required=True, help="stream spec JSON")
    p.add_argument("--bucket-prefix", default="sdp-")
    add_serving_arguments(p)
    args = p.parse_args(argv)
    try:
        args.serving = serving_settings(args)
    except ValueError as exc:
        p.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    with (
        job_session(f"sdp-olist-{'-'.join(args.tasks)}") as spark,
        serving_session(spark, args.serving) as serving,
    ):
        job = OlistAnalytics(spark, args.spec, args.bucket_prefix, serving)
        for task in args.tasks:
            getattr(job, task)()
    return 0


if __name__ == "__main__":
    sys.exit(main())
