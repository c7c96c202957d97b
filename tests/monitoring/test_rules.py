"""The alerting and recording rules (monitoring/rules): valid, and each alert fires on the series
that should fire it (promtool's rule unit tests, monitoring/rules/tests)."""

import subprocess

import pytest

from tests.monitoring.rules import RULES_DIR as RULES
from tests.monitoring.rules import rules


def promtool(*args: str, cwd=RULES) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True)


def test_rule_files_are_valid():
    files = sorted(p.name for p in RULES.glob("*.yml"))
    assert files
    checked = promtool("check", "rules", *files)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("test_file", sorted(p.name for p in (RULES / "tests").glob("*.yml")))
def test_alerts_fire_on_their_series(test_file):
    tested = promtool("test", "rules", test_file, cwd=RULES / "tests")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test():
    tests = "".join(p.read_text() for p in (RULES / "tests").glob("*.yml"))
    alerts = [r["alert"] for r in rules() if "alert" in r]
    untested = [a for a in alerts if f"alertname: {a}" not in tests]
    assert not untested, f"alerts without a promtool test: {untested}"
