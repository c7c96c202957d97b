"""`sdp lake snapshots|read|rollback`: a table's history, the table as it was, and going back."""

import json
import shlex
import subprocess
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sdp.platform import settings
from sdp.platform.cli import InventoryOpt, _fail, _inventory, moment
from sdp.platform.inventory import LOCAL_INVENTORY, Inventory

app = typer.Typer(
    no_args_is_help=True,
    help="Iceberg time travel: a table's snapshots, the table as of one, and rollback.",
)
console = Console(stderr=True, soft_wrap=True)

TableArg = Annotated[str, typer.Argument(help="namespace.table, e.g. bronze.shopping_events")]
SnapshotOpt = Annotated[int | None, typer.Option("--snapshot", help="a snapshot id")]
AtOpt = Annotated[
    str | None,
    typer.Option("--at", help="the table as it was then: an ISO time with a zone, or 30m, 2h, 1d"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _load(inv: Inventory, name: str):
    from pyiceberg.exceptions import NoSuchTableError

    from sdp.lake.catalog import open_catalog

    name = name.removeprefix("lake.")
    try:
        return open_catalog(inv).load_table(name)
    except NoSuchTableError:
        raise _fail(f"{name}: no such table in the lake") from None


def _snapshot(table, snapshot: int | None, at: str | None):
    from sdp.lake.snapshots import find_snapshot

    if (snapshot is None) == (at is None):
        raise _fail("give --snapshot ID or --at TIME (one of them)")
    try:
        return find_snapshot(table, snapshot, moment(at, "--at"))
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _iso(moment_: datetime) -> str:
    return moment_.isoformat(timespec="seconds")


@app.command()
def snapshots(
    table: TableArg,
    inventory: InventoryOpt = LOCAL_INVENTORY,
    last: Annotated[int, typer.Option(help="only the newest N")] = 20,
    as_json: JsonOpt = False,
):
    """The table's snapshots, oldest first: when, what operation, rows added and in total, and
    what wrote it (the stream's batch id, a Spark application)."""
    from sdp.lake.snapshots import snapshot_rows

    rows = snapshot_rows(_load(_inventory(inventory), table))[-last:]
    if as_json:
        typer.echo(json.dumps([{**r.__dict__, "committed_at": _iso(r.committed_at)}
                               for r in rows], indent=1))  # fmt: skip
        return
    out = Table(title=f"{table}: the newest {len(rows)} snapshot(s)")
    for column in ("snapshot", "committed (UTC)", "operation", "added", "total rows", "writer",
                   ""):  # fmt: skip
        out.add_column(column, justify="right" if column in ("added", "total rows") else "left")
    for r in rows:
        state = "current" if r.current else ("" if r.in_history else "rolled back")
        out.add_row(str(r.snapshot_id), r.committed_at.strftime("%Y-%m-%d %H:%M:%S"),
                    r.operation, f"{r.added_records:,}", f"{r.total_records:,}", r.writer,
                    state)  # fmt: skip
    Console(width=160).print(out)


@app.command()
def read(
    table: TableArg,
    inventory: InventoryOpt = LOCAL_INVENTORY,
    snapshot: SnapshotOpt = None,
    at: AtOpt = None,
    limit: Annotated[int, typer.Option(help="rows to show")] = 10,
    as_json: JsonOpt = False,
):
    """The table as of a snapshot or a time: its row count and its first rows."""
    loaded = _load(_inventory(inventory), table)
    found = _snapshot(loaded, snapshot, at)
    scan = loaded.scan(snapshot_id=found.snapshot_id)
    count = scan.count()
    sample = loaded.scan(snapshot_id=found.snapshot_id, limit=limit).to_arrow() if limit else None
    if as_json:
        typer.echo(json.dumps({"snapshot_id": found.snapshot_id, "rows": count,
                               "sample": sample.to_pylist() if sample else []},
                              default=str, indent=1))  # fmt: skip
        return
    console.print(f"{table} as of snapshot {found.snapshot_id}: {count:,} rows", highlight=False)
    if sample is not None and sample.num_rows:
        out = Table()
        for name in sample.column_names:
            out.add_column(name, overflow="fold")
        for row in sample.to_pylist():
            out.add_row(*(str(v) for v in row.values()))
        Console(width=200).print(out)


def _running(inv: Inventory, queries: set[str]) -> list[str]:
    """Why each streaming query of `queries` counts as running: the platform's stream while its
    unit is active, any other while a Spark application of its name is."""
    from sdp.platform.checks import spark_master_state

    stream, reasons = settings.role("spark", "spark_stream_name"), []
    if stream in queries:
        master = inv.first("spark_master")
        shown = subprocess.run(inv.ssh(master, f"systemctl is-active {shlex.quote(stream)}"),
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        state = shown.stdout.strip()
        if not state:
            raise _fail(f"cannot tell whether the stream runs on {master}: {shown.stderr.strip()}")
        if state not in ("inactive", "failed", "unknown"):
            reasons.append(f"its unit {stream} on {master} is {state}")
    if queries - {stream}:
        active = {a["name"] for a in spark_master_state(inv).get("activeapps", [])}
        reasons += [f"the Spark application {q} is active"
                    for q in sorted((queries - {stream}) & active)]  # fmt: skip
    return reasons


def _audit_batches(inv: Inventory, query: str, batches: list[int], topics: list[str]):
    """Reconcile Kafka with the lake over exactly the records of `query`'s batches `batches`
    (their offsets in its checkpoint): (results, None), or (None, why it cannot)."""
    from sdp.platform.checks import s3_client, s3_endpoint
    from sdp.stream.reconcile import Checkpoint, StreamLocation, audit, batch_end

    s3, where = s3_client(inv, s3_endpoint(inv)), StreamLocation.of_query(query)
    try:
        end = batch_end(s3, where, batches[-1])
        start = batch_end(s3, where, batches[0] - 1) if batches[0] > 0 else {}
    except KeyError as exc:
        return None, str(exc)
    ranges = {t: {p: (start.get(t, {}).get(p, 0), high) for p, high in end.get(t, {}).items()}
              for t in topics}  # fmt: skip
    committed = {t: {p: high for p, (_, high) in parts.items()} for t, parts in ranges.items()}
    return audit(inv, ranges, Checkpoint(batches[-1], committed, False)), None


@app.command()
def rollback(
    table: TableArg,
    inventory: InventoryOpt = LOCAL_INVENTORY,
    snapshot: SnapshotOpt = None,
    at: AtOpt = None,
):
    """Make a snapshot the table's current one: back to an earlier state, or forward again to
    one a rollback left. Refused while a streaming query that committed to the table runs (the
    platform's: `sdp stream stop` first). For bronze and the dead-letter table, Kafka is then
    reconciled with the lake over the stream batches the move took out or put back."""
    from sdp.lake.snapshots import changed_snapshots, set_current, stream_batches, stream_tables

    inv = _inventory(inventory)
    name = table.removeprefix("lake.")
    loaded = _load(inv, name)
    running = _running(inv, set(stream_batches(loaded.snapshots())))
    if running:
        raise _fail(f"{name} is written by a stream that runs ({'; '.join(running)}): stop it "
                    f"first (the platform's: sdp stream stop -i {inventory})")  # fmt: skip
    target = _snapshot(loaded, snapshot, at)
    current = loaded.current_snapshot()
    if current is not None and current.snapshot_id == target.snapshot_id:
        console.print(f"{name}: snapshot {target.snapshot_id} is already current; nothing done")
        return
    changed = changed_snapshots(loaded, target.snapshot_id)
    rows_before = int(current.summary.get("total-records", 0)) if current else 0
    set_current(loaded, target.snapshot_id)
    rows_after = int(target.summary.get("total-records", 0))
    console.print(f"{name}: current snapshot {current.snapshot_id if current else None} → "
                  f"{target.snapshot_id}; rows {rows_before:,} → {rows_after:,}",
                  highlight=False)  # fmt: skip
    topic = stream_tables().get(name)
    if topic is None:
        return
    from sdp.stream.cli import _spec_topics, _table

    topics = _spec_topics() if topic == "*" else [topic]
    for query, batches in stream_batches(changed).items():
        results, why = _audit_batches(inv, query, batches, topics)
        if results is None:
            console.print(f"{query}: not reconciled: {why}")
            continue
        Console(width=140).print(_table(results))
        console.print(f"over {query}'s batches {batches[0]}–{batches[-1]}: "
                      f"{sum(r.missing for r in results):,} record(s) missing from the lake, "
                      f"{sum(r.duplicates for r in results):,} duplicated",
                      highlight=False)  # fmt: skip
