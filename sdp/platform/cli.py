"""`sdp platform up|status|down`: the platform on an inventory's hosts, configured by Ansible."""

import os
import subprocess
import time
from contextlib import AbstractContextManager, nullcontext
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sdp.bundle.served import serving
from sdp.hosts.nspawn import ARTIFACT_PORT, ContainerHosts, load_spec, state_dir
from sdp.local.processes import ServiceError
from sdp.platform.checks import run_checks
from sdp.platform.inventory import (
    ANSIBLE_DIR,
    LOCAL_INVENTORY,
    Inventory,
    InventoryError,
    ansible_tool,
    load_inventory,
)

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


def _inventory(path: Path) -> Inventory:
    try:
        return load_inventory(path.resolve())
    except InventoryError as exc:
        raise _fail(str(exc)) from None


def _container_hosts(path: Path) -> ContainerHosts:
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
            _container_hosts(inventory).up()
        elif network:
            _container_hosts(inventory).serve()
        else:
            return serving("0.0.0.0", ARTIFACT_PORT)
    except ServiceError as exc:
        raise _fail(str(exc)) from None
    return nullcontext()


def playbook(inventory: Path, name: str, *args: str) -> int:
    """Run a playbook of ansible/ with ansible/ansible.cfg; its output goes straight through."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg")}
    command = [ansible_tool("ansible-playbook"), "-i", str(inventory.resolve()), name, *args]
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

    The PostgreSQL host (its pg_hba.conf admits the inventory's hosts) and the monitoring host
    (Prometheus' targets) are in the limit too: they must learn the new hosts.
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


@app.command()
def status(inventory: InventoryOpt = LOCAL_INVENTORY):
    """Use every service for real; exit non-zero naming what is down."""
    raise typer.Exit(0 if status_table(_inventory(inventory)) else 1)


@app.command()
def down(inventory: InventoryOpt = LOCAL_INVENTORY):
    """Stop every service (data stays under sdp_data_prefix); power off container hosts."""
    inv = _inventory(inventory)
    if playbook(inventory, "playbooks/stop.yml") != 0:
        raise _fail("stopping the services failed (the task above names what)")
    if inv.container_hosts:
        stopped = _container_hosts(inventory).down()
        console.print(f"powered off: {', '.join(stopped) or 'nothing was running'}")
