"""`sdp hosts up|down|ssh`: container hosts from a spec, each with systemd, sshd and an address."""

import subprocess
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sdp.hosts.nspawn import ContainerHosts, load_spec, state_dir
from sdp.processes import ServiceError

app = typer.Typer(no_args_is_help=True, help="Container hosts (systemd-nspawn) for Ansible.")
console = Console(stderr=True)

SpecArg = Annotated[Path, typer.Argument(help="hosts spec (YAML: network.bridge/gateway, hosts[])")]
StateOpt = Annotated[Path, typer.Option(help="base image, overlays, keys, logs [$SDP_HOSTS_DIR]")]


def _hosts(spec: Path, state: Path | None) -> ContainerHosts:
    try:
        return ContainerHosts(load_spec(spec), state or state_dir())
    except (ServiceError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


@app.command()
def up(spec: SpecArg, state: StateOpt = None):
    """Boot every host in the spec (the base image is built once, about 25 s)."""
    hosts = _hosts(spec, state)
    try:
        started = hosts.up()
    except ServiceError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    for host in hosts.spec.hosts:
        console.print(
            f"{host.name:12} {host.address:15} {'started' if host in started else 'running'}"
        )
    console.print(f"ssh key: {hosts.key}")


@app.command()
def down(spec: SpecArg, state: StateOpt = None):
    """Power the hosts off; their written state (overlay upper layers) is kept."""
    stopped = _hosts(spec, state).down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command()
def destroy(
    spec: SpecArg,
    state: StateOpt = None,
    host: Annotated[
        list[str] | None,
        typer.Option(help="only this host (repeatable), e.g. a worker a scale-in removed"),
    ] = None,
):
    """Stop the hosts and delete everything they wrote (the base image is kept)."""
    try:
        _hosts(spec, state).destroy(host)
    except ServiceError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"destroyed {', '.join(host) if host else 'every host'}")


@app.command()
def ssh(
    spec: SpecArg,
    name: str,
    command: Annotated[list[str] | None, typer.Argument()] = None,
    state: StateOpt = None,
):
    """Run a command on a host (or open a shell)."""
    hosts = _hosts(spec, state)
    match = [h for h in hosts.spec.hosts if h.name == name]
    if not match:
        console.print(f"[red]error:[/red] no host {name!r} in {spec}")
        raise typer.Exit(1)
    raise typer.Exit(subprocess.run([*hosts.ssh_args(match[0]), *(command or [])]).returncode)
