"""`sdp local up|status|down`: the platform's services as local processes under one prefix."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sdp.bundle.lockfile import LockError
from sdp.local.processes import ServiceError
from sdp.local.stack import Stack, default_prefix, load_or_create_config

app = typer.Typer(no_args_is_help=True, help="Run the services as local processes on loopback.")
console = Console(stderr=True)

PrefixOpt = Annotated[
    Path | None, typer.Option(help="where data, logs and secrets live [$SDP_DATA]")
]
ServiceOpt = Annotated[
    list[str] | None, typer.Option("--service", "-s", help="only these services")
]


def _stack(prefix: Path | None, service: list[str] | None) -> Stack:
    return Stack(load_or_create_config(prefix or default_prefix()), service)


@app.command()
def up(prefix: PrefixOpt = None, service: ServiceOpt = None):
    """Start the services (each waits until its probe answers); already running ones are kept."""
    try:
        stack = _stack(prefix, service)
        stack.up(lambda name, s, state: console.print(f"{name:13} {state} ({s:.1f} s)"))
    except (ServiceError, LockError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"data, logs and secrets (stack.yml, mode 0600) under {stack.cfg.prefix}")


@app.command()
def status(prefix: PrefixOpt = None, service: ServiceOpt = None):
    """Probe every service; exit 1 naming those that are down."""
    stack = _stack(prefix, service)
    states = stack.status()
    table = Table()
    table.add_column("service")
    table.add_column("state")
    for name, ok in states.items():
        table.add_row(name, "[green]up" if ok else "[red]down")
    console.print(table)
    down = [n for n, ok in states.items() if not ok]
    if down:
        console.print(f"[red]down:[/red] {', '.join(down)}")
        raise typer.Exit(1)


@app.command()
def down(prefix: PrefixOpt = None, service: ServiceOpt = None):
    """Stop the services; their data stays under the prefix."""
    stopped = _stack(prefix, service).down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
