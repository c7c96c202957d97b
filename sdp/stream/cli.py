"""`sdp stream start|stop|status|reconcile|schema-changes|maintain`: an inventory's stream."""

import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sdp.platform import settings
from sdp.platform.checks import stream_application
from sdp.platform.cli import InventoryOpt, _fail, _inventory, moment, playbook
from sdp.platform.inventory import ANSIBLE_DIR, LOCAL_INVENTORY, ansible_env, ansible_tool
from sdp.platform.jobs import job_error, spark_submit

app = typer.Typer(
    no_args_is_help=True, help="The streaming job: Kafka → Iceberg bronze/silver/gold."
)
console = Console(stderr=True)


def _set_state(inventory: Path, state: str) -> None:
    code = playbook(
        inventory, "site.yml", "--tags", "stream", "--limit", "spark_master",
        "-e", f"spark_stream_state={state}",
    )  # fmt: skip
    if code != 0:
        raise _fail(f"setting the stream {state} failed (the task above names what)")


@app.command()
def start(inventory: InventoryOpt = LOCAL_INVENTORY):
    """Deploy the job (code, spec, unit) to the master host and start it; waits until RUNNING."""
    _set_state(inventory, "started")


@app.command()
def stop(inventory: InventoryOpt = LOCAL_INVENTORY):
    """Stop the job (gracefully; it resumes from its checkpoint on start)."""
    _set_state(inventory, "stopped")


def _spec_topics() -> list[str]:
    from generator.topics import load_topics

    return list(load_topics())


def _table(results) -> Table:
    table = Table(title="stream reconciliation (rows with offsets in the processed range)")
    columns = ["topic", "in Kafka", "processed", "pending", "bronze", "dead-letter", "missing",
               "duplicates", ""]  # fmt: skip
    for c in columns:
        table.add_column(c, justify="left" if c == "topic" else "right")
    for r in results:
        table.add_row(
            r.topic, *(str(v) for v in (r.in_kafka, r.processed, r.pending, r.bronze,
                                         r.dead_letter, r.missing, r.duplicates)),
            "[green]ok[/green]" if r.ok else "[red]MISMATCH[/red]",
        )  # fmt: skip
    return table


@app.command()
def status(inventory: InventoryOpt = LOCAL_INVENTORY):
    """The job's state on the master and how far behind Kafka it is; exit 1 if not running."""
    from sdp.stream.reconcile import pending, positions

    inv = _inventory(inventory)
    app_info = stream_application(inv)
    kafka, checkpoint = positions(inv, _spec_topics())
    console.print(
        f"application: {app_info['id'] + ' ' + app_info['state'] if app_info else 'not running'}; "
        f"last committed batch: {checkpoint.committed_batch}; "
        f"batch in flight: {'yes' if checkpoint.in_flight else 'no'}; "
        f"pending records: {pending(kafka, checkpoint)}",
        highlight=False,
    )
    raise typer.Exit(0 if app_info and app_info["state"] == "RUNNING" else 1)


@app.command("reconcile")
def reconcile_command(
    inventory: InventoryOpt = LOCAL_INVENTORY,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    wait: Annotated[
        float, typer.Option(help="seconds to wait for the stream to catch up first")
    ] = 0,
    topic: Annotated[list[str] | None, typer.Option(help="only these topics")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="only records Kafka received since then: 30m, 2h, 1d or an ISO time"),
    ] = None,
):
    """Kafka offsets against bronze + dead-letter rows per topic (every record Kafka still holds,
    or those since --since); exit 1 on any mismatch once the stream has caught up, 2 if it has
    not caught up (within --wait)."""
    from sdp.stream.reconcile import as_json as to_json
    from sdp.stream.reconcile import audit, pending, positions

    inv = _inventory(inventory)
    topics = topic or _spec_topics()
    unknown = sorted(set(topics) - set(_spec_topics()))
    if unknown:
        raise _fail(f"--topic {', '.join(unknown)}: not in generator/schemas/topics.yml")
    start = moment(since, "--since")
    deadline = time.monotonic() + wait
    while True:  # the offsets alone tell whether it caught up; the lake is read once, after
        kafka, checkpoint = positions(inv, topics, start)
        behind = pending(kafka, checkpoint)
        caught_up = not checkpoint.in_flight and behind == 0
        if caught_up or time.monotonic() >= deadline:
            break
        time.sleep(min(5.0, max(0.5, deadline - time.monotonic())))
    results = audit(inv, kafka, checkpoint)
    if as_json:
        typer.echo(to_json(checkpoint, results))
    else:
        Console(width=140).print(_table(results))
    if not caught_up:
        console.print(
            f"not caught up: {behind} record(s) pending"
            + (", a batch in flight" if checkpoint.in_flight else ""),
            highlight=False,
        )
        raise typer.Exit(2)
    bad = [r.topic for r in results if not r.ok]
    if bad:
        console.print(f"[red]does not reconcile:[/red] {', '.join(bad)}")
        raise typer.Exit(1)


@app.command("schema-changes")
def schema_changes(inventory: InventoryOpt = LOCAL_INVENTORY):
    """What deploying the schema source (generator/schemas/, or $SDP_SCHEMA_DIR) would change in
    the lake's tables, columns and layout; exit 1, naming each field, if Iceberg cannot make a
    change safely (a deployment stops at the same check)."""
    from jobs.streaming.evolution import SchemaChangeRefused
    from sdp.lake.catalog import open_catalog
    from sdp.stream.schema_changes import pending_changes

    try:
        changes = pending_changes(open_catalog(_inventory(inventory)))
    except SchemaChangeRefused as exc:
        raise _fail(f"refused: {exc}") from None
    for line in changes or ["no changes"]:
        typer.echo(line)


@app.command()
def maintain(
    inventory: InventoryOpt = LOCAL_INVENTORY,
    args: Annotated[
        list[str] | None, typer.Argument(help="jobs.streaming.maintenance options, after --")
    ] = None,
):
    """Compact (sorted), rewrite manifests, expire snapshots, remove orphans; safe while the
    stream runs. Runs jobs/streaming/maintenance.py on the master host."""
    command = spark_submit(
        "jobs/streaming/maintenance.py",
        "sdp-maintenance",
        ["--spec", settings.platform("sdp_stream_spec"), *(args or [])],
    )
    with ansible_env() as env:
        result = subprocess.run(
            [ansible_tool("ansible"), "-i", str(inventory.resolve()), "spark_master[0]", "-b",
             "--become-user", settings.role("spark", "spark_user"), "-m", "ansible.builtin.shell",
             "-a", command],
            cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True,
        )  # fmt: skip
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("MAINTAINED")]
    for line in lines:
        typer.echo(line)
    if result.returncode != 0:
        raise _fail(
            f"maintenance failed: {job_error((result.stdout + result.stderr).splitlines())}"
        )
