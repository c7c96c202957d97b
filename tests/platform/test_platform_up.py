"""`make up` for real: the local inventory's container host, site.yml, `make down`'s playbook and
site.yml again (on a platform deployed before the session, running or powered off, the
session's first `up` follows `make down`: conftest), the health checks. Each role's strict
idempotence (0 changed) is its molecule scenario's."""

import re
import subprocess

import pytest

from sdp.platform.checks import run_checks
from sdp.platform.inventory import LOCAL_INVENTORY
from tests.conftest import LOCAL_HOST, make_down, needs_container_hosts, sdp

pytestmark = [pytest.mark.integration, needs_container_hosts]


def changed_tasks(output: str) -> list[str]:
    """The names of the tasks that reported a change in ansible-playbook's output."""
    changed, task = [], None
    for line in output.splitlines():
        if header := re.match(r"TASK \[(.*)\] \*+$", line):
            task = header.group(1)
        elif line.startswith("changed: [") and task and task not in changed:
            changed.append(task)
    return changed


def test_status_names_what_is_down(platform):
    assert all(r.ok for r in run_checks(platform)), run_checks(platform)
    assert sdp(*LOCAL_HOST, "systemctl", "stop", "sdp-spark-worker").returncode == 0
    try:
        status = sdp("platform", "status", "-i", str(LOCAL_INVENTORY))
        assert status.returncode == 1
        assert "down: spark" in status.stderr
    finally:
        sdp(*LOCAL_HOST, "systemctl", "start", "sdp-spark-worker")


def changes_besides_starts(up: subprocess.CompletedProcess) -> list[str]:
    """The tasks a `make up` changed that did not start a service."""
    return [task for task in changed_tasks(up.stdout) if not re.search(r"\| .*running", task)]


def test_down_stops_every_service_and_up_only_starts_them_again(platform_first_up):
    """`make down`'s playbook leaves no platform unit active, the stream (Restart=always) among
    them; the next `make up` changes nothing but starting them (a second run is otherwise
    idempotent) and passes every check. The session's first `up` is that `up` when it followed
    a clean `make down` (conftest) and only started services; otherwise (a new platform, or one
    deployed by an older commit, which the first `up` updated) this test does both again."""
    first = platform_first_up
    assert first.up.returncode == 0, first.up.stdout[-3000:] + first.up.stderr[-3000:]
    down, up = first.down, first.up
    if down is None or down.code or down.active.stdout.strip() or changes_besides_starts(up):
        try:
            down = make_down()
        finally:
            up = sdp("platform", "up", "-i", str(LOCAL_INVENTORY))
    assert down.code == 0, "make down's playbook failed (its output is in this test's)"
    assert down.active.returncode == 0 and down.active.stdout.strip() == "", down.active.stdout
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    assert changed_tasks(up.stdout), "make up started nothing after make down"
    assert changes_besides_starts(up) == []
