"""`make test`'s suites, each with its share of the 60-minute budget, run one after another.

Prints a table (suite, seconds, share) at the end, also when a suite failed, and writes it to
$SDP_CACHE/work/reports/. A suite may also use what the suites before it left of their shares;
one that overruns that is stopped there with a message naming it: CI fails early instead of at
its hard limit, and the run never exceeds the budget.

    python -m tests.suites                 # every suite but the opt-in ones: `make test`, CI
    python -m tests.suites cluster roles   # some of them
    python -m tests.suites experiments     # opt-in: `make test-experiments`
    PYTEST_ARGS='-x -k kafka' python -m tests.suites platform
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sdp.paths import REPO_ROOT, work_dir

BIN = Path(sys.executable).parent
PYTEST = [str(BIN / "pytest"), *shlex.split(os.environ.get("PYTEST_ARGS", ""))]
BUDGET = 60 * 60  # what the shares of `make test` (every suite but the opt-in ones) add up to


@dataclass(frozen=True)
class Suite:
    name: str
    what: str
    share: int  # seconds
    steps: list[tuple[list[str], Path]]  # (command, where it runs)
    # Steps run at once. More than one: each step's output goes to a log file, shown if it
    # fails (interleaved, two molecule scenarios could not be read).
    lanes: int = 1
    # Run only when named: outside `make test` and its budget.
    opt_in: bool = False


def molecule_roles() -> list[str]:
    return sorted(p.parent.name for p in (REPO_ROOT / "roles").glob("*/molecule"))


def suites() -> list[Suite]:
    roles = molecule_roles()
    return [
        # 162-215 s (2026-12-06); 250-305 s on the next machine, warm or not (docs/timings.md).
        # The first suite has no spare; what it leaves, platform may use.
        Suite("unit", "tests that need no service (local SparkSession included)", 360,
              [([*PYTEST, "-m", "not integration"], REPO_ROOT)]),
        # One pytest session: every end-to-end suite shares the platform it brings up once.
        # 1977 s on the slower machine of 2026-12-06 with E1 (229 s), which is out now, and a
        # second site.yml run that a platform running before the session no longer needs (118
        # s saved); since 2026-12-07 neither does one found powered off (docs/timings.md).
        # Then 1700 s in a fresh-clone run (2026-12-07; the daily batch's end to end 293-378
        # s). CI finds the
        # platform powered off: 1910 s, then stopped at 2007 s (2080 s to the end by hand);
        # 1818 s once the first `up` after the boot was also the down/up test's, then 1986 s
        # (the stream slow to land the daily e2e's first day after `up`: 270 s against 53 s).
        Suite("platform", "the single-host platform (sdp-local) and what runs on it", 2100,
              [([*PYTEST, "-m", "integration and not experiment", "--ignore=tests/multihost"],
                REPO_ROOT)]),
        # 1351 s on the slower machine with E2 (177 s) and E3 (620 s), which are out now, and
        # the 8 hosts stopped one after another (88 s). Then 503-522 s (2026-12-07).
        Suite("cluster", "site.yml on 7 container hosts, smoke, faults", 560,
              [([*PYTEST, "tests/multihost", "-m", "not experiment"], REPO_ROOT)]),
        # Two scenarios at once on 2 cores: each spends much of its time waiting (services
        # starting, SSH round trips). All ten: 396-498 s (2026-12-05/06); on the slower machine
        # 1094 s one at a time; in two lanes 657 s in a fresh-clone run (2026-12-07), and once
        # over 520 s with four scenarios left (airflow 392 s, 175 s alone). Last: it also gets
        # whatever the others left, so its deadline is the budget less what they took, whatever
        # its share (200 s of which went to platform).
        Suite("roles", f"molecule: {', '.join(roles)}", 580,
              [([str(BIN / "molecule"), "test", "--all"], REPO_ROOT / "roles" / r)
               for r in roles], lanes=2),
        # Opt-in: E1 on the single-host platform, E2 and E3 on the multi-host test cluster, all
        # on small data (229 + 177 + 620 s on the slower machine, besides the platform's `up`
        # and site.yml on the cluster's 7 hosts, 370 s). A pytest session of its own: the
        # platform's and the cluster's fixtures.
        Suite("experiments", "E1 on sdp-local; E2, E3 on 7 container hosts (small data)", 2400,
              [([*PYTEST, "-m", "experiment"], REPO_ROOT)], opt_in=True),
    ]  # fmt: skip


def run(suite: Suite, spare: float = 0) -> tuple[float, str]:
    """Seconds taken and the outcome: passed, failed (exit code) or over its share and the
    `spare` seconds the suites before it left.

    After a failed step no new step starts; steps already running finish (a molecule scenario
    stopped midway would leave its hosts up)."""
    started = time.monotonic()
    deadline = started + suite.share + spare
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}  # molecule finds ansible
    logs = work_dir() / "reports" / "logs"
    if suite.lanes > 1:
        logs.mkdir(parents=True, exist_ok=True)
    failed: list[int] = []
    overran = threading.Event()

    def step(command: list[str], cwd: Path) -> None:
        if failed or overran.is_set():
            return
        where = cwd.relative_to(REPO_ROOT)
        print(f"== {suite.name}: {shlex.join(command)} (in {where})", flush=True)
        log = logs / f"{suite.name}-{str(where).replace('/', '-')}.log" if suite.lanes > 1 else None
        output = {} if log is None else {"stdout": log.open("w"), "stderr": subprocess.STDOUT}
        begun = time.monotonic()
        # Its own process group, so an overrun stops everything it started.
        proc = subprocess.Popen(command, cwd=cwd, env=env, start_new_session=True, **output)
        if log:
            output["stdout"].close()  # the child has its own copy
        try:
            code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            overran.set()
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return
        if code != 0 and log:
            print(log.read_text(errors="replace"), flush=True)
        print(f"== {suite.name}: {where}: exit {code} after {time.monotonic() - begun:.0f} s"
              + (f" (output: {log})" if log else ""), flush=True)  # fmt: skip
        if code != 0:  # pytest's 5 (no test collected) included
            failed.append(code)

    with ThreadPoolExecutor(suite.lanes) as pool:
        for future in [pool.submit(step, command, cwd) for command, cwd in suite.steps]:
            future.result()
    seconds = time.monotonic() - started
    if overran.is_set():
        return seconds, f"over its share of {suite.share} s and {spare:.0f} s spare: stopped"
    if failed:
        return seconds, f"failed (exit {failed[0]})"
    return seconds, "passed"


def main(names: list[str]) -> int:
    known = {s.name: s for s in suites()}
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"unknown suite(s) {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    chosen = [known[n] for n in names] or [s for s in known.values() if not s.opt_in]
    budgeted = sum(s.share for s in known.values() if not s.opt_in)
    assert budgeted <= BUDGET, "the shares exceed the budget"
    results, spare = [], 0.0
    for suite in chosen:
        seconds, outcome = run(suite, spare)
        results.append((suite, seconds, outcome))
        # The suites' times vary by minutes from run to run (docs/timings.md), each in its own
        # way: what one leaves, the next may use.
        spare = max(suite.share + spare - seconds, 0)
        if outcome != "passed":
            break  # fail early: the rest would only spend CI's time
    print("\n== suites (seconds, share)")
    for suite, seconds, outcome in results:
        print(f"  {suite.name:9} {seconds:7.0f} {suite.share:6} {outcome:8}  {suite.what}")
    total = sum(seconds for _, seconds, _ in results)
    print(f"  {'total':9} {total:7.0f} {sum(s.share for s in chosen):6}")
    reports = work_dir() / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / f"suites-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps({s.name: {"seconds": round(t), "share": s.share, "outcome": o}
                    for s, t, o in results}, indent=2) + "\n"
    )  # fmt: skip
    return 0 if all(o == "passed" for _, _, o in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
