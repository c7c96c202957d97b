"""Timings, printed at the end of the test session and written to $SDP_CACHE/work/reports/:
the steps the multi-host and VM runs time (the docs quote them), and the seconds spent per test
directory (setup, call and teardown: a shared fixture counts where it is first used)."""

import json
import time
from collections import defaultdict

from sdp.paths import work_dir

TIMINGS: dict[str, float] = {}
PER_DIRECTORY: dict[str, float] = defaultdict(float)


def record(report) -> None:
    """A test phase's duration, to its directory under tests/."""
    parts = report.nodeid.split("/")
    PER_DIRECTORY[parts[1] if len(parts) > 2 else parts[0]] += report.duration


class Stopwatch:
    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        TIMINGS[self.name] = round(time.monotonic() - self.started, 1)


def report(terminalreporter) -> None:
    if not TIMINGS and not PER_DIRECTORY:
        return
    terminalreporter.section("seconds per test directory")
    for name, seconds in sorted(PER_DIRECTORY.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"tests/{name:43} {seconds:8.1f}")
    if TIMINGS:
        terminalreporter.section("timed steps (s)")
    for name, seconds in TIMINGS.items():
        terminalreporter.write_line(f"{name:50} {seconds:8.1f}")
    reports = work_dir() / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (reports / f"timings-{stamp}.json").write_text(
        json.dumps({"steps": TIMINGS, "directories": PER_DIRECTORY}, indent=2) + "\n"
    )
