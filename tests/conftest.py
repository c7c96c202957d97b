"""Shared fixtures: the running platform for the integration tests (`platform`, an Inventory of
the container host sdp-local that `sdp platform up` brings up once per session, and
`kafka_client` and the Iceberg catalog `lake` derived from it), a local SparkSession and the
stream spec for the jobs' transforms, the optional real datasets, the CLI as a user runs it and
the session's step timings.
"""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sdp.paths import REPO_ROOT
from sdp.platform import checks
from sdp.platform.cli import container_hosts, playbook
from sdp.platform.inventory import LOCAL_INVENTORY, Inventory, load_inventory
from tests import timings

SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(
            f"{SHARED_DATASETS} is absent (real datasets are optional; fixtures cover the basics)"
        )
    return SHARED_DATASETS


SDP = str(Path(sys.executable).with_name("sdp"))


@pytest.fixture(scope="session")
def stopwatch():
    """`with stopwatch("what"):` times a step; the session's summary lists every step."""
    return timings.Stopwatch


def pytest_runtest_logreport(report):
    timings.record(report)


def pytest_terminal_summary(terminalreporter):
    timings.report(terminalreporter)


def sdp(*args: str, timeout: float = 1800, env: dict[str, str] | None = None):
    """The project's CLI as a user runs it (`env`: its environment, default this one's)."""
    return subprocess.run([SDP, *args], capture_output=True, text=True, timeout=timeout, env=env)


needs_container_hosts = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("systemd-nspawn"),
    reason="needs root and systemd-nspawn for the container host (make prereqs)",
)


LOCAL_HOST_NAME = "sdp-local"
LOCAL_HOST = ["hosts", "ssh", str(LOCAL_INVENTORY), LOCAL_HOST_NAME, "--"]
DOWN_AND_UP = "test_down_stops_every_service_and_up_only_starts_them_again"


def active_platform_units() -> subprocess.CompletedProcess:
    """`systemctl list-units` of the platform's units active on sdp-local, one per line."""
    return sdp(*LOCAL_HOST, "systemctl", "list-units", "--state=active", "--no-legend", "--plain",
               "sdp-*", "postgresql@*", "prometheus*")  # fmt: skip


@dataclass(frozen=True)
class Down:
    """`make down`'s playbook on sdp-local: its exit code and the platform's units still active."""

    code: int
    active: subprocess.CompletedProcess


def make_down() -> Down:
    return Down(playbook(LOCAL_INVENTORY, "playbooks/stop.yml"), active_platform_units())


@dataclass(frozen=True)
class FirstUp:
    up: subprocess.CompletedProcess
    down: Down | None  # the `make down` before it, when the platform ran already


@pytest.fixture(scope="session")
def platform_first_up(request) -> FirstUp:
    """`make up`'s `sdp platform up` on the local inventory, once per test session. On a platform
    deployed before (running, or powered off as CI finds it: booted here, its units start again)
    and when test_platform_up's down-and-up test is in the session, `make down`'s playbook goes
    first: that `up` may then be the test's, instead of a second site.yml run (285 s for both
    on a running platform, against 145 s plus 258 s)."""
    down = None
    if any(item.name == DOWN_AND_UP for item in request.session.items):
        hosts = container_hosts(LOCAL_INVENTORY)
        if LOCAL_HOST_NAME not in hosts.running():
            hosts.up()
            # Every unit started (or failed), so `make down` finds them all.
            sdp(*LOCAL_HOST, "systemctl", "is-system-running", "--wait", timeout=600)
        if active_platform_units().stdout.strip():
            down = make_down()
    return FirstUp(sdp("platform", "up", "-i", str(LOCAL_INVENTORY)), down)


@pytest.fixture(scope="session")
def platform(platform_first_up) -> Inventory:
    """The single-host platform (container host sdp-local), every service and the stream up."""
    up = platform_first_up.up
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    return load_inventory(LOCAL_INVENTORY)


@pytest.fixture(scope="session")
def kafka_client(platform) -> dict[str, str]:
    """librdkafka's settings for the platform's brokers, logged in as the super user. They create
    no topic on first use: a test makes its own, uniquely named, and deletes it."""
    return checks.kafka_client(platform)


@pytest.fixture(scope="session")
def spark():
    pyspark = pytest.importorskip("pyspark", reason="pyspark comes from `make artifacts`")
    from jobs.lake import CATALOG, EXTENSIONS
    from jobs.streaming.main import CODEGEN_CACHE
    from sdp.bundle import layout

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    catalog = f"spark.sql.catalog.{CATALOG}"
    session = (
        pyspark.sql.SparkSession.builder.master("local[2]")
        .appName("sdp-jobs-unit")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config(*CODEGEN_CACHE)  # as the stream's: unit tests run its batches too
        .config("spark.ui.enabled", "false")
        .config("spark.jars", ",".join(str(j) for j in layout.jars("iceberg")))
        .config("spark.sql.extensions", EXTENSIONS)
        # Iceberg's in-memory catalog and file IO: the stream's MERGEs, snapshots and metadata
        # tables as on the platform, with no service (locations are only names there).
        .config(catalog, "org.apache.iceberg.spark.SparkCatalog")
        .config(f"{catalog}.catalog-impl", "org.apache.iceberg.inmemory.InMemoryCatalog")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def stream_spec():
    from jobs.streaming.config import spec_from_document
    from jobs.streaming.spec import build_spec

    return spec_from_document(build_spec())


# Per module: test_platform_up restarts PostgreSQL, which a catalog's pooled connection would not
# survive.
@pytest.fixture(scope="module")
def lake(platform):
    """The platform's Iceberg catalog through pyiceberg (what a notebook user would open)."""
    from sdp.lake.catalog import open_catalog

    return open_catalog(platform)
