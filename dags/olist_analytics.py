"""olist_analytics: the Olist orders replayed as change data capture (`sdp replay olist`), from
the CDC tables in silver to gold and to the dashboards' database (PostgreSQL, schema serving).

One task, `analyze_olist`: delivery delays, product segments and monthly sales, in turn in one
Spark application of jobs/batch/olist_analytics.py (sdp_spark.py submits it): on this small data
a JVM start per analysis would cost more than the analysis. Silver keeps each order's latest
change, so a run computes over everything replayed so far and replaces its tables whole: the date
of a run selects nothing, and a re-run gives the same rows.
"""

import pendulum
from airflow.sdk import DAG
from sdp_spark import BUCKET_PREFIX, SERVING_JDBC_URL, SPEC, spark_job

args = ["--spec", SPEC, "--bucket-prefix", BUCKET_PREFIX, "--serving-jdbc-url", SERVING_JDBC_URL]

with DAG(
    dag_id="olist_analytics",
    doc_md=__doc__,
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # each run covers all of silver: missed runs add nothing
    max_active_runs=1,
    tags=["batch", "gold", "olist"],
) as dag:
    spark_job(
        "analyze_olist", "batch/olist_analytics.py", ["delivery", "segments", "monthly", *args],
        "Delivery: per order promised and delivered dates, days late (`olist_order_delivery`, "
        "lake only); late share and delays by customer state and by category; days from purchase "
        "to approved, shipped and delivered. Segments: each sold product's average price and "
        "order count against the median product's (Star, Niche, Volume, Question mark). Monthly "
        "sales: orders, items, revenue, freight, average order value per month of purchase.",
    )  # fmt: skip
