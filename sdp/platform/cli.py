"""`sdp platform up|status|down`: the platform on an inventory's hosts, configured by Ansible."""

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sdp.bundle.served import serving
from sdp.cluster.spec import CLUSTER_FILE
from sdp.cluster.spec_copy import SpecCopy
from sdp.hosts.nspawn import ARTIFACT_PORT, ContainerHosts, load_spec, state_dir
from sdp.paths import work_dir
from sdp.platform import autoscale as autoscaling
from sdp.platform import checks, settings
from sdp.platform.checks import run_checks
from sdp.platform.inventory import (
    ANSIBLE_DIR,
    LOCAL_INVENTORY,
    Inventory,
    InventoryError,
    ansible_env,
    ansible_tool,
    load_inventory,
)
from sdp.processes import ServiceError

app = typer.Typer(no_args_is_help=True, help="The platform on an inventory's hosts (Ansible).")
console = Console(stderr=True)

InventoryOpt = Annotated[
    Path, typer.Option("--inventory", "-i", help="Ansible inventory (file or directory)")
]


class Machines(StrEnum):
    containers = "containers"
    vms = "vms"


MachinesOpt = Annotated[
    Machines | None,
    typer.Option(
        help="containers: boot the inventory's hosts as container hosts (the default when every "
        "host is reached over SSH); vms: the hosts run already (VMs, machines), serve them the "
        "bundle and the apt proxy on the network's control-node address"
    ),
]
HostsArg = Annotated[list[str], typer.Argument(help="inventory host names", show_default=False)]


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def moment(value: str | None, option: str) -> datetime | None:
    """An option's time: an ISO date-time with a zone, or a time ago (30m, 2h, 1d)."""
    if value is None:
        return None
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if value[:-1].isdigit() and value[-1:] in units:
        return datetime.now(UTC) - timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise typer.BadParameter(
            f"{value!r} is neither a time ago (30m, 2h, 1d) nor an ISO date-time with a zone",
            param_hint=option,
        )
    return parsed


def _inventory(path: Path) -> Inventory:
    try:
        return load_inventory(path.resolve())
    except InventoryError as exc:
        raise _fail(str(exc)) from None


def container_hosts(path: Path) -> ContainerHosts:
    return ContainerHosts(load_spec(path.resolve()), state_dir())


def _machines(inventory: Path, inv: Inventory, machines: Machines | None) -> AbstractContextManager:
    """Get the hosts ready for a playbook; the context serves the bundle while it runs.

    Container hosts boot (the running ones are left alone, so after a raised count only the new
    ones start) and get the apt proxy and the artifact server from `sdp hosts up`. VMs on the
    inventory's network get the same two; other machines get the artifact server on every
    address for the length of the playbook.
    """
    machines = machines or (Machines.containers if inv.container_hosts else Machines.vms)
    network = any("sdp_container_network" in v for v in inv.hostvars.values())
    try:
        if machines is Machines.containers:
            container_hosts(inventory).up()
        elif network:
            container_hosts(inventory).serve()
        else:
            return serving("0.0.0.0", ARTIFACT_PORT)
    except ServiceError as exc:
        raise _fail(str(exc)) from None
    return nullcontext()


def playbook(inventory: Path, name: str, *args: str) -> int:
    """Run a playbook of ansible/ with ansible/ansible.cfg; its output goes straight through."""
    command = [ansible_tool("ansible-playbook"), "-i", str(inventory.resolve()), name, *args]
    with ansible_env() as env:
        return subprocess.run(command, cwd=ANSIBLE_DIR, env=env).returncode


def status_table(inv: Inventory) -> bool:
    results = run_checks(inv)
    table = Table(title=f"platform {inv.cluster_name} ({inv.path})")
    for column in ("service", "state", "detail"):
        table.add_column(column)
    for r in results:
        table.add_row(r.service, "[green]up[/green]" if r.ok else "[red]DOWN[/red]", r.detail)
    Console().print(table)
    down = [r.service for r in results if not r.ok]
    if down:
        console.print(f"[red]down:[/red] {', '.join(down)}")
    return not down


def _converge(
    inventory: Path, inv: Inventory, machines: Machines | None, name: str, *args: str, done: str
):
    """Hosts ready, the playbook, then every check; exits 0 only when all of them pass."""
    started = time.monotonic()
    with _machines(inventory, inv, machines):
        if playbook(inventory, name, *args) != 0:
            raise _fail(f"{name} failed (the task above names what)")
    healthy = status_table(inv)
    console.print(f"{done} in {time.monotonic() - started:.0f} s")
    raise typer.Exit(0 if healthy else 1)


@app.command()
def up(
    inventory: InventoryOpt = LOCAL_INVENTORY,
    machines: MachinesOpt = None,
    ansible_args: Annotated[
        list[str] | None, typer.Argument(help="extra ansible-playbook arguments")
    ] = None,
):
    """Boot the container hosts (if the inventory uses them), run site.yml, check every service."""
    inv = _inventory(inventory)
    _converge(inventory, inv, machines, "site.yml", *(ansible_args or []), done="up")


def _known(inv: Inventory, hosts: list[str], what: str) -> None:
    unknown = [h for h in hosts if h not in inv.hostvars]
    if unknown:
        raise _fail(f"{', '.join(unknown)}: not in {inv.path}; {what}")


@app.command("scale-out")
def scale_out(
    hosts: HostsArg, inventory: InventoryOpt = LOCAL_INVENTORY, machines: MachinesOpt = None
):
    """Configure only the hosts a raised count added (scale.yml --limit), then check everything.

    The PostgreSQL host (its pg_hba.conf admits each database's client hosts) and the monitoring
    host (Prometheus' targets) are in the limit too: they must learn the new hosts.
    """
    inv = _inventory(inventory)
    _known(inv, hosts, "raise the pool's count in cluster.yml and regenerate the inventory first")
    limit = ",".join([*hosts, "postgres", "monitoring"])
    done = f"scaled out by {len(hosts)} host(s)"
    _converge(inventory, inv, machines, "scale.yml", "--limit", limit, done=done)


@app.command("scale-in")
def scale_in(hosts: HostsArg, inventory: InventoryOpt = LOCAL_INVENTORY):
    """Decommission Spark workers gracefully; then lower their pool's count in cluster.yml."""
    inv = _inventory(inventory)
    _known(inv, hosts, "scale-in takes hosts the inventory still lists")
    not_workers = [h for h in hosts if h not in inv.hosts("spark_worker")]
    if not_workers:
        raise _fail(f"{', '.join(not_workers)}: not Spark workers; scale-in removes Spark workers")
    started = time.monotonic()
    limit = ",".join(hosts)
    if playbook(inventory, "playbooks/decommission-spark-worker.yml", "--limit", limit) != 0:
        raise _fail("decommissioning failed (the task above names what)")
    console.print(
        f"decommissioned {limit} in {time.monotonic() - started:.0f} s. Next: lower the pool's "
        "count in cluster.yml, regenerate the inventory, remove the machine, and refresh "
        "Prometheus' targets (make monitoring-targets)"
    )


POLICY = autoscaling.Policy()  # the defaults


@app.command()
def autoscale(
    profile: Annotated[str, typer.Option(help="the cluster.yml profile the platform runs")],
    pool: Annotated[str, typer.Option(help="its pool of Spark workers to resize")],
    spec: Annotated[Path, typer.Option(help="the cluster spec")] = CLUSTER_FILE,
    work: Annotated[
        Path | None,
        typer.Option(
            help="where the resized copy of the spec and its inventory live "
            "[~/.cache/sdp/work/autoscale-PROFILE]; the spec itself is left as it is"
        ),
    ] = None,
    min_workers: Annotated[int, typer.Option("--min", help="fewest workers")] = POLICY.min_workers,
    max_workers: Annotated[int, typer.Option("--max", help="most workers")] = POLICY.max_workers,
    behind_high: Annotated[
        float, typer.Option(help="seconds of traffic waiting in Kafka: overload")
    ] = POLICY.behind_high,
    behind_low: Annotated[
        float, typer.Option(help="seconds of traffic waiting in Kafka: idle")
    ] = POLICY.behind_low,
    worker_rate: Annotated[
        float, typer.Option(help="records/s one worker keeps up with (E3 measures it)")
    ] = POLICY.worker_rate,
    sustain: Annotated[float, typer.Option(help="seconds over --behind-high: +1")] = POLICY.sustain,
    idle: Annotated[float, typer.Option(help="seconds under --behind-low: -1")] = POLICY.idle,
    cooldown: Annotated[float, typer.Option(help="seconds between changes")] = POLICY.cooldown,
    interval: Annotated[float, typer.Option(min=1, help="seconds between readings")] = 15,
    minutes: Annotated[float, typer.Option(min=0, help="how long to run; 0: until Ctrl-C")] = 0,
    log: Annotated[Path | None, typer.Option(help="also write each reading as a JSON line")] = None,
):
    """Add and remove Spark workers as the stream's backlog demands (sdp/platform/autoscale.py
    says how it decides):
    the pool's count in a copy of the spec, `scale-out`, and `scale-in` with the host removed.

    Run the stream with spark_stream_cores: 0 so a new worker's executor joins it.
    """
    policy = autoscaling.Policy(
        min_workers, max_workers, behind_high, behind_low, worker_rate, sustain, idle, cooldown
    )
    if policy.problems():
        raise _fail("; ".join(policy.problems()))
    try:
        copy = SpecCopy(spec, profile, pool, work or work_dir() / f"autoscale-{profile}")
        count = copy.count()
    except (KeyError, StopIteration):
        raise _fail(f"{spec}: no pool {pool!r} in profile {profile!r}") from None
    if not (copy.inventory_dir / "hosts.yml").exists():
        copy.workers(count)
    console.print(f"inventory: {copy.inventory_dir} (sdp platform up -i it first)")
    # SIGTERM stops it as Ctrl-C does (benchmarks and tests end it so).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        autoscaling.run(autoscaling.Pool(copy), policy, interval, minutes * 60, log)
    except ServiceError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        console.print("stopped")


@app.command()
def status(inventory: InventoryOpt = LOCAL_INVENTORY):
    """Use every service for real; exit non-zero naming what is down."""
    raise typer.Exit(0 if status_table(_inventory(inventory)) else 1)


@app.command()
def down(inventory: InventoryOpt = LOCAL_INVENTORY):
    """Stop every service (data stays under sdp_data_prefix); power off container hosts."""
    inv = _inventory(inventory)
    hosts = container_hosts(inventory) if inv.container_hosts else None
    # A powered-off container host has no services to stop, and no SSH to stop them over.
    running = [h for h in hosts.running() if h in inv.hostvars] if hosts else list(inv.hostvars)
    if not running:
        console.print("nothing was running")
        return
    if playbook(inventory, "playbooks/stop.yml", "--limit", ",".join(running)) != 0:
        raise _fail("stopping the services failed (the task above names what)")
    if hosts:
        console.print(f"powered off: {', '.join(hosts.down())}")


@app.command("kafka-env")
def kafka_env(inventory: InventoryOpt = LOCAL_INVENTORY):
    """The brokers and the generator's login as shell exports, for
    `eval "$(sdp platform kafka-env)"` before `sdp generate`, `sdp replay`, `sdp import`."""
    inv = _inventory(inventory)
    env = {"SDP_KAFKA_BOOTSTRAP": checks.kafka_bootstrap(inv), **checks.kafka_login_env(inv)}
    print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in env.items()))


@app.command()
def demo(
    inventory: InventoryOpt = LOCAL_INVENTORY,
    minutes: Annotated[float, typer.Option(min=1, help="How long the generator runs.")] = 10,
    rate: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Shopping events per simulated second at the day's mean (x10 in the sale; the "
            "stream keeps up with about 1,000 events/s on 2 cores).",
        ),
    ] = 5,
    speed: Annotated[float, typer.Option(min=1, help="Simulated seconds per second.")] = 6,
):
    """The demo on a running platform (make up): the generator on the daily curve, the x10 sale
    switched on halfway, then the 5-minute windows as they landed in PostgreSQL's serving schema.
    """
    seconds = minutes * 60
    # Simulated time starts now and runs ahead of the clock; the stream takes event times only
    # so far ahead (later ones are dead letters, "in the future").
    ahead = seconds * (speed - 1) / 60
    limit = settings.role("spark", "spark_stream_future_minutes")
    if ahead >= limit:
        raise _fail(
            f"--minutes {minutes:g} at --speed {speed:g} ends {ahead:.0f} simulated minutes ahead "
            f"of the clock; the stream takes at most {limit} (spark_stream_future_minutes): "
            "lower --speed or --minutes"
        )
    inv = _inventory(inventory)
    master = inv.first_address("spark_master")
    console.print(
        "Watch it:\n"
        f"  Spark master (the sdp-stream application): http://{master}:"
        f"{settings.platform('spark_master_ui_port')}\n"
        f"  Prometheus: {checks.prometheus_url(inv)} (login {settings.platform('prometheus_user')}"
        " / the secret prometheus-password)\n"
        "  sdp stream status   (last batch, pending records)\n"
        "  serving.event_counts in PostgreSQL (what the dashboards read)"
    )
    start = datetime.fromtimestamp(time.time(), UTC)
    sale_flag = Path(tempfile.mkdtemp(prefix="sdp-demo-")) / "sale"
    sdp = str(Path(sys.executable).with_name("sdp"))
    generator = subprocess.Popen(
        [sdp, "generate", "--bootstrap", checks.kafka_bootstrap(inv), "--rate", str(rate),
         "--speed", str(speed), "--duration", str(seconds), "--sale-flag", str(sale_flag)],
        env={**os.environ, **checks.kafka_login_env(inv)},
    )  # fmt: skip
    try:
        generator.wait(seconds / 2)
    except subprocess.TimeoutExpired:
        sale_flag.touch()
        console.print(f"[bold]sale on (x10) at {time.strftime('%H:%M:%S')}[/bold]")
    if generator.wait() != 0:
        raise _fail(f"the generator exited {generator.returncode}")
    # Every record produced is in bronze or the dead letters, and gold is up to date.
    subprocess.run([sdp, "stream", "reconcile", "-i", str(inventory), "--wait", "300",
                    "--since", start.isoformat()])  # fmt: skip
    table = Table(title="shopping events per 5-minute window (serving.event_counts)")
    for column in ("window (UTC)", "events", ""):
        table.add_column(column)
    with checks.serving_connection(inv) as conn:
        rows = conn.execute(
            "SELECT window_start, sum(events) FROM serving.event_counts WHERE window_end > %s"
            " GROUP BY window_start ORDER BY window_start",
            (start,),
        ).fetchall()
    peak = max((n for _, n in rows), default=1)
    for window, events in rows:
        table.add_row(f"{window:%m-%d %H:%M}", str(events), "#" * round(40 * events / peak))
    Console().print(table)
