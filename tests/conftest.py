"""Real services for the integration tests, started from the artifact bundle on loopback.

Each fixture starts only its own service, once per test session, under a temporary prefix with
free ports and generated secrets, and stops it at the end.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sdp.bundle.lockfile import LockError
from sdp.local.processes import free_port
from sdp.local.services import Kafka, MinIO, Postgres
from sdp.local.stack import DEFAULT_PORTS, Stack, load_or_create_config
from sdp.paths import REPO_ROOT
from sdp.platform.inventory import LOCAL_INVENTORY, Inventory, load_inventory
from tests import timings

SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def stack_config():
    ports = {name: free_port() for name in DEFAULT_PORTS}
    # Not under pytest's 0700 tmp dir: PostgreSQL drops to its own user and must reach its data.
    prefix = Path(tempfile.mkdtemp(prefix="sdp-test-stack-"))
    prefix.chmod(0o711)
    # One drive keeps start-up quick; `sdp local up` uses four (an erasure set).
    yield load_or_create_config(prefix, ports, minio_drives=1)
    shutil.rmtree(prefix, ignore_errors=True)


@contextmanager
def _running(stack_config, name: str) -> Iterator[Stack]:
    stack = Stack(stack_config, [name])
    try:
        stack.up()
    except LockError as exc:
        pytest.fail(f"the artifact bundle is not built ({exc}); run `make artifacts`")
    try:
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="session")
def kafka_service(stack_config) -> Iterator[Kafka]:
    with _running(stack_config, "kafka") as stack:
        yield stack.service("kafka")


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_service) -> str:
    """host:port of a real single-node KRaft broker (auto topic creation on)."""
    return kafka_service.bootstrap


@pytest.fixture(scope="session")
def minio_service(stack_config) -> Iterator[MinIO]:
    with _running(stack_config, "minio") as stack:
        yield stack.service("minio")


@pytest.fixture(scope="session")
def postgres_service(stack_config) -> Iterator[Postgres]:
    with _running(stack_config, "postgres") as stack:
        yield stack.service("postgres")


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


def sdp(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """The project's CLI as a user runs it."""
    return subprocess.run([SDP, *args], capture_output=True, text=True, timeout=timeout)


needs_container_hosts = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("systemd-nspawn"),
    reason="needs root and systemd-nspawn for the container host (make prereqs)",
)


@pytest.fixture(scope="session")
def platform_first_up() -> subprocess.CompletedProcess:
    """`make up`'s `sdp platform up` on the local inventory, once per test session."""
    return sdp("platform", "up", "-i", str(LOCAL_INVENTORY))


@pytest.fixture(scope="session")
def platform(platform_first_up) -> Inventory:
    """The single-host platform (container host sdp-local), every service and the stream up."""
    up = platform_first_up
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    return load_inventory(LOCAL_INVENTORY)
