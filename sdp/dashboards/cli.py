"""`sdp dashboards render`: the dashboards as code (sdp/dashboards/) as the files the roles
provision: Grafana JSON (grafana role) and a Superset assets bundle (superset role)."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sdp.paths import REPO_ROOT

GRAFANA_DIR = REPO_ROOT / "monitoring" / "dashboards" / "grafana"
SUPERSET_DIR = REPO_ROOT / "monitoring" / "superset"

app = typer.Typer(no_args_is_help=True, help="Dashboards as code (Grafana JSON, Superset YAML).")
console = Console(stderr=True)


def grafana_files() -> dict[str, str]:
    from sdp.dashboards.grafana import DASHBOARDS
    from sdp.dashboards.grafana import render as render_json

    return {f"{name}.json": render_json(name) for name in DASHBOARDS}


def superset_files() -> dict[str, str]:
    from sdp.dashboards.superset import files

    return files()


# Each target: its directory, its files, and the pattern of the files it owns there (others, such
# as the superset role's database file, are left alone).
TARGETS: dict[str, tuple[Path, Callable[[], dict[str, str]], str]] = {
    "grafana": (GRAFANA_DIR, grafana_files, "*.json"),
    "superset": (SUPERSET_DIR, superset_files, "**/*.yaml"),
}


def stale_files(out: Path, wanted: dict[str, str], pattern: str) -> tuple[list[Path], list[Path]]:
    """(files to write, files to delete) for `out` to hold exactly `wanted`."""
    write = [out / rel for rel, text in wanted.items()
             if not (out / rel).exists() or (out / rel).read_text() != text]  # fmt: skip
    delete = sorted(set(out.glob(pattern)) - {out / rel for rel in wanted})
    return write, delete


@app.command()
def render(
    check: Annotated[
        bool, typer.Option("--check", help="change nothing; exit 1 if a file is not up to date")
    ] = False,
):
    """Write monitoring/dashboards/grafana/*.json and monitoring/superset/ from sdp/dashboards/."""
    stale = []
    for out, make, pattern in TARGETS.values():
        wanted = make()
        write, delete = stale_files(out, wanted, pattern)
        stale += write + delete
        if check:
            continue
        for path in write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(wanted[str(path.relative_to(out))])
        for path in delete:
            path.unlink()
    verb = "out of date" if check else "written"
    for path in stale:
        console.print(f"{verb}: {path.relative_to(REPO_ROOT)}")
    if check and stale:
        console.print("run `sdp dashboards render`")
        raise typer.Exit(1)
