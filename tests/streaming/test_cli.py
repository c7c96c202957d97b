"""What `sdp stream maintain` reports when its Spark job fails."""

from sdp.platform.jobs import job_error

JVM_NOISE = [
    "org.apache.spark.sql.connector.catalog.CatalogNotFoundException: [CATALOG_NOT_FOUND] x",
    "        at org.apache.spark.sql.SparkSession.withActive(SparkSession.scala:804)",
]


def test_the_exception_a_traceback_ends_with_not_the_jvm_lines_around_it():
    output = [*JVM_NOISE, "Traceback (most recent call last):",
              '  File "/opt/sdp/app/jobs/streaming/maintenance.py", line 71, in maintain',
              "    orphans = spark.sql(",
              "pyspark.errors.exceptions.captured.IllegalArgumentException: Cannot remove orphans",
              *JVM_NOISE]  # fmt: skip
    assert job_error(output).startswith("pyspark.errors.exceptions.captured.IllegalArgument")


def test_a_usage_error_is_named():
    output = ["usage: jobs.streaming.maintenance [-h]",
              "jobs.streaming.maintenance: error: --orphans-older-than-hours below 24"]  # fmt: skip
    assert job_error(output) == output[1]
