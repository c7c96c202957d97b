"""daily_analytics: one shop day (KST) of shopping events, from silver to gold.

    check_data_quality → repair_gold_windows → aggregate_daily_sales → analyze_reviews
        → calculate_metrics → export_report

Each task is a Spark job of jobs/batch/daily.py (sdp_spark.py submits it). A run covers the day
of its logical date, midnight to midnight in the shop's zone; re-running a date replaces that
date's gold rows (and their copies in PostgreSQL's serving schema, which Superset's Daily analytics
dashboard reads), so runs, re-runs and `airflow dags backfill` agree.
"""

import os
from urllib.parse import quote

import pendulum
from airflow.sdk import DAG, BaseOperatorLink
from airflow.timetables.interval import CronDataIntervalTimetable
from sdp_spark import BUCKET_PREFIX, SERVING_JDBC_URL, SPEC, spark_job

ZONE = pendulum.timezone("Asia/Seoul")  # the shop's days and hours
MINIO_CONSOLE = os.environ.get("SDP_MINIO_CONSOLE_URL", "")


class ReportLink(BaseOperatorLink):
    """The run's report in the MinIO console (its object page: preview, download, share).
    The worker computes it when the task ends; the UI shows it as a button of the task."""

    name = "Report in MinIO"

    def get_link(self, operator, *, ti_key) -> str:
        # Where the job wrote it; the job code is on the hosts that run DAGs (Spark clients), not
        # necessarily where the DAG files are only parsed (the role's molecule scenario).
        from jobs.batch.report import location

        args = operator.application_args  # rendered: the run's day is there
        bucket, key = location(BUCKET_PREFIX, args[args.index("--date") + 1])
        return f"{MINIO_CONSOLE}/browser/{quote(bucket, safe='')}/{quote(key, safe='')}"


def shop_day(logical_date, dag) -> str:
    """The day a run covers: its logical date's, in the DAG's zone (scheduled runs: the day that
    just ended; a triggered run: the date it was given)."""
    if logical_date is None:
        raise ValueError(f"{dag.dag_id} runs need a logical date: the shop day they cover")
    return logical_date.in_timezone(dag.timezone).strftime("%Y-%m-%d")


def spark_task(task_id: str, job: str, doc: str, *more: str, links=()):
    # Every task's gold tables get their serving copy (the dashboards' Daily analytics).
    args = ["--date", "{{ shop_day(logical_date, dag) }}", "--zone", "{{ dag.timezone.name }}",
            "--spec", SPEC, "--bucket-prefix", BUCKET_PREFIX,
            "--serving-jdbc-url", SERVING_JDBC_URL, *more]  # fmt: skip
    return spark_job(task_id, "batch/daily.py", [job, *args], doc, links)


with DAG(
    dag_id="daily_analytics",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=ZONE),
    # A run dated before start_date gets no tasks and "succeeds" at once: early enough for any
    # data replayed here (Olist's orders begin in 2016).
    start_date=pendulum.datetime(2016, 1, 1, tz=ZONE),
    # Unpaused, it runs the last finished day; older days are for `airflow dags backfill`.
    catchup=False,
    max_active_runs=1,  # each run takes the Spark cores the stream leaves
    tags=["batch", "gold"],
    user_defined_macros={"shop_day": shop_day},
) as dag:
    quality = spark_task(
        "check_data_quality", "quality",
        "Null ratios, required fields, timestamps, duplicate event ids, dead-letter share, bronze "
        "and silver reconciled: all to `lake.gold.dq_results`; a failing check fails the run.",
    )  # fmt: skip
    repair = spark_task(
        "repair_gold_windows", "repair",
        "The stream's 5-minute gold windows of the day recomputed from silver; those late events "
        "changed after the stream closed them are replaced, in the lake and in serving.",
    )  # fmt: skip
    sales = spark_task(
        "aggregate_daily_sales", "sales",
        "Revenue, orders and buyers by category; events per KST hour; each product's "
        "view → cart → purchase funnel.",
    )  # fmt: skip
    reviews = spark_task(
        "analyze_reviews", "reviews",
        "Korean reviews tokenised by Kiwi against the sentiment lexicon (jobs/batch/"
        "review_lexicon.tsv): aspect sentiment, word frequency, ratings, rating per product.",
    )  # fmt: skip
    metrics = spark_task(
        "calculate_metrics", "metrics",
        "Revenue, orders, average order value, conversion, repurchase and bounce rates, sessions.",
    )  # fmt: skip
    report = spark_task(
        "export_report", "report",
        "The day's HTML page with charts (revenue by hour and category, funnel, top products, "
        "review aspects and keywords, ratings, data quality) to "
        f"`s3://{BUCKET_PREFIX}gold/reports/daily_analytics/DAY.html`; its link *Report in MinIO* "
        "opens it in the MinIO console, `sdp report get DAY` downloads it.",
        links=(ReportLink(),),
    )  # fmt: skip
    quality >> repair >> sales >> reviews >> metrics >> report
