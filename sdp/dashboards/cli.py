"""`sdp dashboards render`: the Grafana dashboards of sdp/dashboards/grafana.py as JSON files."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sdp.paths import REPO_ROOT

GRAFANA_DIR = REPO_ROOT / "monitoring" / "dashboards" / "grafana"

app = typer.Typer(no_args_is_help=True, help="Dashboards as code (Grafana JSON).")
console = Console(stderr=True)


@app.command()
def render(
    out: Annotated[Path, typer.Option(help="where the JSON files go")] = GRAFANA_DIR,
    check: Annotated[
        bool, typer.Option("--check", help="change nothing; exit 1 if a file is not up to date")
    ] = False,
):
    """Write each dashboard as OUT/NAME.json (what the grafana role provisions)."""
    from sdp.dashboards.grafana import DASHBOARDS
    from sdp.dashboards.grafana import render as render_json

    stale = []
    for name in DASHBOARDS:
        path, text = out / f"{name}.json", render_json(name)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not check:
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    extra = sorted(set(out.glob("*.json")) - {out / f"{n}.json" for n in DASHBOARDS})
    for path in extra:
        stale.append(path)
        if not check:
            path.unlink()
    verb = "out of date" if check else "written"
    for path in stale:
        console.print(f"{verb}: {path}")
    if check and stale:
        console.print("run `sdp dashboards render`")
        raise typer.Exit(1)
