"""The `sdp` command line."""

import sys

import typer
from rich.console import Console

from generator.cli import register as register_generator
from sdp.bundle.cli import app as artifacts_app
from sdp.bundle.lockfile import LockError
from sdp.bundle.manifest import ManifestError
from sdp.cluster.cli import app as cluster_app
from sdp.cluster.spec import SpecError
from sdp.dashboards.cli import app as dashboards_app
from sdp.hosts.cli import app as hosts_app
from sdp.lake.cli import app as lake_app
from sdp.platform.cli import app as platform_app
from sdp.platform.inventory import InventoryError
from sdp.platform.secrets import SecretMissing
from sdp.processes import ServiceError
from sdp.report.cli import app as report_app
from sdp.stream.cli import app as stream_app

app = typer.Typer(
    no_args_is_help=True, help="shopping-data-pipeline: build, run and feed the platform."
)
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(hosts_app, name="hosts")
app.add_typer(platform_app, name="platform")
app.add_typer(stream_app, name="stream")
app.add_typer(lake_app, name="lake")
app.add_typer(cluster_app, name="cluster")
app.add_typer(report_app, name="report")
app.add_typer(dashboards_app, name="dashboards")
register_generator(app)

# Wrong input or setup, or a service that does not answer, whichever command meets it: one line
# naming the file, field, secret or service.
SETUP_ERRORS = (InventoryError, SpecError, SecretMissing, LockError, ManifestError, ServiceError)


def main() -> None:
    try:
        app()
    except SETUP_ERRORS as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
