"""Timings of the multi-host and VM runs: printed at the end of the test session (the README
quotes them) and written to $SDP_CACHE/work/reports/."""

import json
import time

from sdp.paths import work_dir

TIMINGS: dict[str, float] = {}


class Stopwatch:
    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        TIMINGS[self.name] = round(time.monotonic() - self.started, 1)


def report(terminalreporter) -> None:
    if not TIMINGS:
        return
    terminalreporter.section("timed steps (s)")
    for name, seconds in TIMINGS.items():
        terminalreporter.write_line(f"{name:50} {seconds:8.1f}")
    reports = work_dir() / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (reports / f"timings-{stamp}.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")
