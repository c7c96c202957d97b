"""`make up` for real: the local inventory's container host, site.yml twice, the health checks."""

import re

import pytest

from sdp.platform.checks import run_checks
from sdp.platform.cli import playbook
from sdp.platform.inventory import LOCAL_INVENTORY
from tests.conftest import needs_container_hosts, sdp

pytestmark = [pytest.mark.integration, needs_container_hosts]


def changed(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output))


def test_up_is_idempotent_and_status_names_what_is_down(platform):
    second = sdp("platform", "up", "-i", str(LOCAL_INVENTORY))
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert changed(second.stdout) == 0, second.stdout[-3000:]

    assert all(r.ok for r in run_checks(platform)), run_checks(platform)
    host = ["hosts", "ssh", str(LOCAL_INVENTORY), "sdp-local", "--"]
    assert sdp(*host, "systemctl", "stop", "sdp-spark-worker").returncode == 0
    try:
        status = sdp("platform", "status", "-i", str(LOCAL_INVENTORY))
        assert status.returncode == 1
        assert "down: spark" in status.stderr
    finally:
        sdp(*host, "systemctl", "start", "sdp-spark-worker")


def test_down_stops_every_service_and_up_brings_them_back(platform):
    """`make down`'s playbook leaves no platform unit active, the stream (Restart=always) among
    them; `make up` then passes every check again."""
    try:
        assert playbook(LOCAL_INVENTORY, "playbooks/stop.yml") == 0
        host = ["hosts", "ssh", str(LOCAL_INVENTORY), "sdp-local", "--"]
        active = sdp(*host, "systemctl", "list-units", "--state=active", "--no-legend", "--plain",
                     "sdp-*", "postgresql@*", "prometheus*")  # fmt: skip
        assert active.returncode == 0 and active.stdout.strip() == "", active.stdout
    finally:
        up = sdp("platform", "up", "-i", str(LOCAL_INVENTORY))
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
