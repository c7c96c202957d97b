"""`make up` for real: the local inventory's container host, site.yml, `make down`'s playbook and
site.yml again, the health checks. Each role's strict idempotence (0 changed) is its molecule
scenario's."""

import re

import pytest

from sdp.platform.checks import run_checks
from sdp.platform.cli import playbook
from sdp.platform.inventory import LOCAL_INVENTORY
from tests.conftest import LOCAL_HOST, active_platform_units, needs_container_hosts, sdp

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


def test_down_stops_every_service_and_up_only_starts_them_again(platform_first_up):
    """`make down`'s playbook leaves no platform unit active, the stream (Restart=always) among
    them; the next `make up` changes nothing but starting them (a second run is otherwise
    idempotent) and passes every check. The session's first `up` is that `up` when the platform
    ran before the session (conftest); on a new one, this test does both."""
    if platform_first_up.down is not None:
        (stopped, active), up = platform_first_up.down, platform_first_up.up
    else:
        try:
            stopped = playbook(LOCAL_INVENTORY, "playbooks/stop.yml")
            active = active_platform_units()
        finally:
            up = sdp("platform", "up", "-i", str(LOCAL_INVENTORY))
    assert stopped == 0
    assert active.returncode == 0 and active.stdout.strip() == "", active.stdout
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    changed = changed_tasks(up.stdout)
    assert changed, "make up started nothing after make down"
    assert [task for task in changed if not re.search(r"\| .*running", task)] == []
