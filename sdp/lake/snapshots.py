"""Iceberg time travel for an operator: a table's snapshots with what wrote them, the table as of
a snapshot or a time, and moving its current snapshot (a rollback, or forward again to undo one).

Iceberg keeps every snapshot until `expire_snapshots` removes it, so a rollback deletes nothing:
the snapshots it leaves behind stay readable, and can be made current again, until they expire.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from jobs.streaming.config import BATCH_PROPERTY, CATALOG, QUERY_PROPERTY, spec_from_document
from jobs.streaming.spec import build_spec, table_name


@dataclass(frozen=True)
class SnapshotRow:
    snapshot_id: int
    parent_id: int | None
    committed_at: datetime
    operation: str
    added_records: int
    deleted_records: int
    total_records: int
    writer: str
    current: bool  # the table's current snapshot
    in_history: bool  # an ancestor of the current one (False: rolled back past, or a branch)


def writer(summary: dict[str, str]) -> str:
    """Who committed a snapshot, from its summary: the stream's batch, a Spark application, or
    nothing known."""
    if BATCH_PROPERTY in summary:
        return f"{summary.get(QUERY_PROPERTY, 'stream')} batch {summary[BATCH_PROPERTY]}"
    return summary.get("spark.app.id", "")


def _when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def ancestor_ids(table, snapshot_id: int | None) -> list[int]:
    """`snapshot_id` and its ancestors, newest first."""
    from pyiceberg.table.snapshots import ancestors_of

    start = table.snapshot_by_id(snapshot_id) if snapshot_id is not None else None
    return [s.snapshot_id for s in ancestors_of(start, table.metadata)]


def snapshot_rows(table) -> list[SnapshotRow]:
    """Every snapshot the table's metadata holds, oldest first."""
    current = table.current_snapshot()
    history = set(ancestor_ids(table, current.snapshot_id if current else None))
    rows = []
    for s in sorted(table.snapshots(), key=lambda s: (s.timestamp_ms, s.sequence_number or 0)):
        summary = s.summary.additional_properties if s.summary else {}
        rows.append(
            SnapshotRow(
                snapshot_id=s.snapshot_id,
                parent_id=s.parent_snapshot_id,
                committed_at=_when(s.timestamp_ms),
                operation=str(s.summary.operation.value) if s.summary else "",
                added_records=int(summary.get("added-records", 0)),
                deleted_records=int(summary.get("deleted-records", 0)),
                total_records=int(summary.get("total-records", 0)),
                writer=writer(summary),
                current=current is not None and s.snapshot_id == current.snapshot_id,
                in_history=s.snapshot_id in history,
            )
        )
    return rows


def find_snapshot(table, snapshot_id: int | None = None, at: datetime | None = None):
    """The snapshot with that id, or the one that was current at `at` (the table's snapshot
    log); ValueError saying why there is none."""
    if (snapshot_id is None) == (at is None):
        raise ValueError("give a snapshot id or a time, not both")
    if snapshot_id is not None:
        found = table.snapshot_by_id(snapshot_id)
        if found is None:
            known = ", ".join(str(s.snapshot_id) for s in table.snapshots()[-5:])
            raise ValueError(
                f"snapshot {snapshot_id} is not in the table's metadata (expired, or never "
                f"there); the newest: {known or 'none'}"
            )
        return found
    found = table.snapshot_as_of_timestamp(int(at.timestamp() * 1000))
    if found is None:
        first = table.history()[0].timestamp_ms if table.history() else None
        raise ValueError(
            f"the table had no snapshot at {at.isoformat()}"
            + (f"; its oldest kept is from {_when(first).isoformat()}" if first else "")
        )
    return found


def stream_tables() -> dict[str, str | None]:
    """Every table the stream writes (without the catalog's name) → the topic whose records it
    lands one per row: a bronze table its topic's, the dead-letter table every topic's ("*"),
    the others None (they are derived: reconciling Kafka with the lake does not read them)."""
    from jobs.streaming.config import DEAD_LETTER_TABLE
    from jobs.streaming.maintenance import tables

    spec = spec_from_document(build_spec())
    bronze = {f"{CATALOG}.bronze.{table_name(t)}": t for t, s in spec.items() if s.table}
    found = {}
    for table in tables(spec):
        topic = "*" if table == DEAD_LETTER_TABLE else bronze.get(table)
        found[table.removeprefix(f"{CATALOG}.")] = topic
    return found


def stream_batches(snapshots) -> dict[str, list[int]]:
    """The streaming queries that committed among `snapshots` → their batch ids."""
    found: dict[str, list[int]] = {}
    for s in snapshots:
        props = s.summary.additional_properties if s.summary else {}
        if QUERY_PROPERTY in props and BATCH_PROPERTY in props:
            found.setdefault(props[QUERY_PROPERTY], []).append(int(props[BATCH_PROPERTY]))
    return {query: sorted(ids) for query, ids in found.items()}


def changed_snapshots(table, target_id: int) -> list:
    """The snapshots a move of the current snapshot to `target_id` takes out of, or puts back
    into, the table's history."""
    current = table.current_snapshot()
    before = set(ancestor_ids(table, current.snapshot_id if current else None))
    after = set(ancestor_ids(table, target_id))
    return [table.snapshot_by_id(i) for i in sorted(before ^ after)]


def set_current(table, target_id: int) -> None:
    """Make `target_id` the current snapshot in one commit, which fails if anything else
    committed since `table` was loaded."""
    table.manage_snapshots().set_current_snapshot(snapshot_id=target_id).commit()
