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


# A client library's "cannot reach or log in to the service" errors, by (package, class name), so
# that no client is imported for it: the service each one means.
UNREACHABLE = {
    ("botocore", "EndpointConnectionError"): "MinIO (S3)",
    ("botocore", "ConnectTimeoutError"): "MinIO (S3)",
    ("botocore", "ReadTimeoutError"): "MinIO (S3)",
    ("psycopg", "OperationalError"): "PostgreSQL",
    ("psycopg2", "OperationalError"): "PostgreSQL",
    ("sqlalchemy", "OperationalError"): "PostgreSQL",  # pyiceberg's catalog
}


def unreachable(exc: BaseException) -> str | None:
    """One line naming the service and what its client said, or None for any other error."""
    for cls in type(exc).__mro__:
        service = UNREACHABLE.get((cls.__module__.split(".")[0], cls.__name__))
        if service:
            said = str(getattr(exc, "orig", None) or exc).strip()  # sqlalchemy wraps the driver's
            return f"{service}: {said.splitlines()[0] if said else type(exc).__name__}"
    return None


def main() -> None:
    try:
        app()
    except Exception as exc:  # anything else is raised again, with its traceback
        line = str(exc) if isinstance(exc, SETUP_ERRORS) else unreachable(exc)
        if line is None:
            raise
        Console(stderr=True).print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
