"""`make up` for real: the local inventory's container host, site.yml twice, the health checks."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sdp.platform.checks import run_checks
from sdp.platform.inventory import LOCAL_INVENTORY, load_inventory

SDP = str(Path(sys.executable).with_name("sdp"))

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("systemd-nspawn"),
        reason="needs root and systemd-nspawn for the container host (make prereqs)",
    ),
]


def sdp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SDP, *args], capture_output=True, text=True, timeout=1800)


def changed(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output))


def test_up_is_idempotent_and_status_names_what_is_down():
    first = sdp("platform", "up", "-i", str(LOCAL_INVENTORY))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = sdp("platform", "up", "-i", str(LOCAL_INVENTORY))
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert changed(second.stdout) == 0, second.stdout[-3000:]

    inv = load_inventory(LOCAL_INVENTORY)
    assert all(r.ok for r in run_checks(inv))
    host = ["hosts", "ssh", str(LOCAL_INVENTORY), "sdp-local", "--"]
    assert sdp(*host, "systemctl", "stop", "sdp-spark-worker").returncode == 0
    try:
        status = sdp("platform", "status", "-i", str(LOCAL_INVENTORY))
        assert status.returncode == 1
        assert "down: spark" in status.stderr
    finally:
        sdp(*host, "systemctl", "start", "sdp-spark-worker")
