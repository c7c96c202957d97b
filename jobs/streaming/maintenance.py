"""Table maintenance for the stream's tables, safe while the stream runs (Airflow schedules it).

    spark-submit jobs/streaming/maintenance.py --spec streams.json [--snapshots-older-than-hours 24]

Per table: compaction sorted by the table's sort order, manifest rewrite, snapshot expiry and
orphan-file removal. Why it is safe next to the stream:
- bronze, the dead-letter table and the batch log only ever get appends, which never conflict
  with a rewrite; tables the stream MERGEs into are compacted only before the current day, and
  a MERGE that still loses a race is retried by the stream (it is idempotent);
- snapshot expiry keeps the last `retain_last` snapshots, which hold the stream's batch markers;
- orphans must be older than the longest a write can take (default 3 days).
"""

import argparse
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyspark.sql import SparkSession

from jobs.batch.session import job_session
from jobs.streaming.config import (
    BATCH_LOG_TABLE,
    CATALOG,
    DEAD_LETTER_TABLE,
    TopicSpec,
    load_spec,
)
from jobs.streaming.gold import GOLD_FROM_TOPIC

log = logging.getLogger("sdp.maintenance")


def tables(spec: dict[str, TopicSpec]) -> dict[str, str | None]:
    """Every table of the stream → the time column limiting compaction (None: compact all)."""
    found: dict[str, str | None] = {DEAD_LETTER_TABLE: None, BATCH_LOG_TABLE: None}
    for topic in spec.values():
        if topic.table is not None:
            found[topic.table.fqn("bronze")] = None
            found[topic.table.fqn("silver")] = topic.table.time
    for outputs in GOLD_FROM_TOPIC.values():
        for table, _ in outputs:
            found[table.fqn] = "window_start"
    return found


def _ts(moment: datetime) -> str:
    return f"TIMESTAMP '{moment.strftime('%Y-%m-%d %H:%M:%S')}'"


def maintain(
    spark: SparkSession,
    table: str,
    merged_on: str | None,
    now: datetime,
    snapshot_age: timedelta,
    retain_last: int,
    orphan_age: timedelta,
) -> dict[str, int]:
    name = table.removeprefix(f"{CATALOG}.")
    call = f"CALL {CATALOG}.system"
    where = ""
    if merged_on is not None:
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        where = f', where => "{merged_on} < {_ts(today)}"'
    rewrite = spark.sql(
        f"{call}.rewrite_data_files(table => '{name}', strategy => 'sort'{where}, "
        "options => map('partial-progress.enabled', 'true', 'min-input-files', '2'))"
    ).first()
    spark.sql(f"{call}.rewrite_manifests(table => '{name}')").collect()
    expired = spark.sql(
        f"{call}.expire_snapshots(table => '{name}', older_than => {_ts(now - snapshot_age)}, "
        f"retain_last => {retain_last})"
    ).first()
    orphans = spark.sql(
        # prefix_listing: list through the table's S3FileIO (Hadoop has no s3:// file system here)
        f"{call}.remove_orphan_files(table => '{name}', older_than => {_ts(now - orphan_age)}, "
        "prefix_listing => true)"
    ).collect()
    return {
        "rewritten_files": rewrite["rewritten_data_files_count"],
        "added_files": rewrite["added_data_files_count"],
        "expired_data_files": expired["deleted_data_files_count"],
        "orphans_removed": len(orphans),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="jobs.streaming.maintenance")
    p.add_argument("--spec", type=Path, required=True)
    p.add_argument("--snapshots-older-than-hours", type=float, default=24)
    p.add_argument("--retain-last", type=int, default=100)
    p.add_argument("--orphans-older-than-hours", type=float, default=72)
    p.add_argument("--table", action="append", help="only these (repeatable), e.g. lake.gold.x")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.orphans_older_than_hours < 24:
        # Iceberg's procedure refuses it too, but only after a Spark application has started.
        p.error("--orphans-older-than-hours below 24 could delete files a running write still "
                "adds (Iceberg's remove_orphan_files refuses it)")  # fmt: skip
    everything = tables(load_spec(args.spec))
    unknown = set(args.table or []) - everything.keys()
    if unknown:
        p.error(f"not a table of the stream: {', '.join(sorted(unknown))}")
    now = datetime.now(UTC)
    with job_session("sdp-maintenance") as spark:
        for table, merged_on in everything.items():
            if args.table and table not in args.table:
                continue
            result = maintain(
                spark, table, merged_on, now,
                timedelta(hours=args.snapshots_older_than_hours), args.retain_last,
                timedelta(hours=args.orphans_older_than_hours),
            )  # fmt: skip
            done = " ".join(f"{k}={v}" for k, v in result.items())
            print(f"MAINTAINED {table} {done}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
