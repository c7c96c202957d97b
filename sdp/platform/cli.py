"""`sdp platform up|status|down`: the platform on an inventory's hosts, configured by Ansible."""

import os
import subprocess
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sdp.bundle.served import serving
from sdp.hosts.nspawn import ARTIFACT_PORT, ContainerHosts, load_spec
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


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _inventory(path: Path) -> Inventory:
    try:
        return load_inventory(path.resolve())
    except InventoryError as exc:
        raise _fail(str(exc)) from None


def _container_hosts(path: Path) -> ContainerHosts:
    state = Path(os.environ.get("SDP_HOSTS_DIR", "/var/lib/sdp-hosts"))
    return ContainerHosts(load_spec(path.resolve()), state)


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


@app.command()
def up(
    inventory: InventoryOpt = LOCAL_INVENTORY,
    ansible_args: Annotated[
        list[str] | None, typer.Argument(help="extra ansible-playbook arguments")
    ] = None,
):
    """Boot the container hosts (if the inventory uses them), run site.yml, check every service."""
    inv = _inventory(inventory)
    started = time.monotonic()
    if inv.container_hosts:
        try:
            _container_hosts(inventory).up()
        except ServiceError as exc:
            raise _fail(str(exc)) from None
    # Container hosts get the artifact server from `sdp hosts up`; otherwise (localhost, hosts
    # that reach this machine) it serves for the length of the playbook.
    server = nullcontext() if inv.container_hosts else serving("0.0.0.0", ARTIFACT_PORT)
    with server:
        if playbook(inventory, "site.yml", *(ansible_args or [])) != 0:
            raise _fail("site.yml failed (the task above names what)")
    healthy = status_table(inv)
    console.print(f"up in {time.monotonic() - started:.0f} s")
    raise typer.Exit(0 if healthy else 1)


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
