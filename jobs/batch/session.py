"""The SparkSession of a batch job (daily, Olist, maintenance), started and stopped one way."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession


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
