"""The sessions of a batch job (daily, Olist, maintenance), opened and closed one way: Spark's, and
PostgreSQL's serving database for the jobs that write there."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

from jobs.streaming.config import ServingSettings
from jobs.streaming.serving import Serving


@contextmanager
def job_session(name: str) -> Iterator[SparkSession]:
    """Log lines with their times, Spark times in UTC (the jobs' bounds are UTC instants), and
    the session stopped however the job ends."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    spark = SparkSession.builder.appName(name).getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    try:
        yield spark
    finally:
        spark.stop()


@contextmanager
def serving_session(spark: SparkSession, settings: ServingSettings | None) -> Iterator[Serving]:
    """The serving database of a job that writes there (None: a job without serving)."""
    serving = None if settings is None else Serving(spark, settings)
    try:
        yield serving
    finally:
        if serving is not None:
            serving.close()
