"""`make test`'s suites, each with its share of the 60-minute budget, run one after another.

Prints a table (suite, seconds, share) at the end, also when a suite failed, and writes it to
$SDP_CACHE/work/reports/. A suite may also use what the suites before it left of their shares;
one that overruns that is stopped there with a message naming it: CI fails early instead of at
its hard limit, and the run never exceeds the budget.

    python -m tests.suites                 # every suite: what `make test` and CI run
    python -m tests.suites cluster roles   # some of them
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
BUDGET = 60 * 60  # the shares leave a reserve for the suites to come (docs/timings.md)


@dataclass(frozen=True)
class Suite:
    name: str
    what: str
    share: int  # seconds
    steps: list[tuple[list[str], Path]]  # (command, where it runs)
    # Steps run at once. More than one: each step's output goes to a log file, shown if it
    # fails (interleaved, two molecule scenarios could not be read).
    lanes: int = 1


def molecule_roles() -> list[str]:
    return sorted(p.parent.name for p in (REPO_ROOT / "roles").glob("*/molecule"))


def suites() -> list[Suite]:
    roles = molecule_roles()
    return [
        # 162-215 s (2026-12-06); 250-281 s on the next machine, warm or not (docs/timings.md).
        # The first suite has no spare; what it leaves, platform may use.
        Suite("unit", "tests that need no service (local SparkSession included)", 320,
              [([*PYTEST, "-m", "not integration"], REPO_ROOT)]),
        # One pytest session: every end-to-end suite shares the platform it brings up once.
        # 1122-1799 s measured (a young platform, one used all day), and since ~200 s of faults;
        # 1580-1671 s in the fresh-clone runs of 2026-12-06, and ~1760 s in one (the last three
        # on a lake of 12M rows)
        Suite("platform", "the single-host platform (sdp-local) and what runs on it", 1720,
              [([*PYTEST, "-m", "integration", "--ignore=tests/multihost"], REPO_ROOT)]),
        # 939-999 s (2026-12-06): E3's scale-out and drain vary by a minute.
        Suite("cluster", "site.yml on 7 container hosts, smoke, E2, E3 autoscaling, faults", 1040,
              [([*PYTEST, "tests/multihost"], REPO_ROOT)]),
        # Two scenarios at once on 2 cores: each spends much of its time waiting (services
        # starting, SSH round trips). kafka, postgres, minio, prometheus: 216 s one after
        # another, 124 s in two lanes (2026-12-05). Each scenario has its own hosts. All ten:
        # 396-498 s (2026-12-05/06).
        Suite("roles", f"molecule: {', '.join(roles)}", 520,
              [([str(BIN / "molecule"), "test", "--all"], REPO_ROOT / "roles" / r)
               for r in roles], lanes=2),
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
    chosen = [known[n] for n in names] or list(known.values())
    assert sum(s.share for s in known.values()) <= BUDGET, "the shares exceed the budget"
    results, spare = [], 0.0
    for suite in chosen:
        seconds, outcome = run(suite, spare)
        results.append((suite, seconds, outcome))
        # The suites' times vary by minutes from run to run (docs/timings.md), each in its own
        # way: what one leaves, the next may use.
        spare = max(suite.share + spare - seconds, 0)
        if outcome != "passed":
            break  # fail early: the rest would only spend CI's time
    print("\n== make test: suites (seconds, share)")
    for suite, seconds, outcome in results:
        print(f"  {suite.name:9} {seconds:7.0f} {suite.share:6} {outcome:8}  {suite.what}")
    total = sum(seconds for _, seconds, _ in results)
    print(f"  {'total':9} {total:7.0f} {BUDGET:6}")
    reports = work_dir() / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / f"suites-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps({s.name: {"seconds": round(t), "share": s.share, "outcome": o}
                    for s, t, o in results}, indent=2) + "\n"
    )  # fmt: skip
    return 0 if all(o == "passed" for _, _, o in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
