"""lake_maintenance: compaction, manifest rewrite, snapshot expiry and orphan-file removal of
every table the stream writes (jobs/streaming/maintenance.py; safe while the stream runs).

Every 6 hours. At a 5 s trigger the stream commits up to 720 snapshots an hour to each table;
each run expires those older than `snapshot_hours` (keeping the last 100, which hold the stream's
batch markers), so a table's metadata holds some hours of snapshots, not days. A manual run may
name tables: conf {"tables": ["lake.gold.x"]}.
"""

import pendulum
from airflow.sdk import DAG, Param
from sdp_spark import SPEC, spark_job

with DAG(
    dag_id="lake_maintenance",
    doc_md=__doc__,
    schedule="0 */6 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # one run does all that is due; missed ones add nothing
    max_active_runs=1,
    tags=["lake", "maintenance"],
    render_template_as_native_obj=True,
    user_defined_macros={"table_args": lambda tables: [f"--table={t}" for t in tables]},
    params={
        "tables": Param([], type="array", description="only these tables (default: all)"),
        "snapshot_hours": Param(6, type="number", minimum=1, description="expire older than"),
    },
) as dag:
    spark_job(
        "maintain_tables", "streaming/maintenance.py",
        # One template for the whole command line, rendered as a list (a --table per name).
        "{{ ['--spec', '" + SPEC + "', '--snapshots-older-than-hours', params.snapshot_hours"
        " | string] + table_args(params.tables) }}",
        "Every stream table in turn: sorted compaction (tables the stream MERGEs into: days before "
        "today only), manifests, snapshots, orphans; a line `MAINTAINED table ...` each.",
    )  # fmt: skip
