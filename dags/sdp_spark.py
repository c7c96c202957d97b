"""The platform's Spark jobs as Airflow tasks (imported by the DAG files beside it; no DAG here).

Each task is a spark-submit of a file of the job code the spark role deployed (SDP_APP_DIR) to the
standalone master in client mode, with this host's Spark (the airflow role puts spark-submit on
PATH and defines the connection sdp_spark).
"""

import os

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

APP = os.environ["SDP_APP_DIR"]
SPEC = os.environ["SDP_STREAM_SPEC"]
BUCKET_PREFIX = os.environ["SDP_BUCKET_PREFIX"]
# The dashboards' database; its password reaches the jobs in the environment (SDP_SERVING_PASSWORD).
SERVING_JDBC_URL = os.environ["SDP_SERVING_JDBC_URL"]


def spark_job(
    task_id: str, job: str, args: list[str] | str, doc: str, links=()
) -> SparkSubmitOperator:
    """job: a path under jobs/ (batch/daily.py); args: its command line, templated (a list of
    templates, or one template that renders to a list in a DAG rendering native objects);
    links: operator links (BaseOperatorLink) the task shows."""
    task = SparkSubmitOperator(
        task_id=task_id,
        doc_md=doc,
        conn_id="sdp_spark",
        name=f"sdp-{task_id}",
        application=f"{APP}/jobs/{job}",
        application_args=args,
        env_vars={"PYTHONPATH": APP, "TZ": "UTC"},
        # Executors on the workers import the job code from the same place.
        conf={"spark.executorEnv.PYTHONPATH": APP, "spark.sql.shuffle.partitions": "8"},
    )
    task.operator_extra_links = links
    return task
