"""Spark workers that follow the stream's load: a controller reads Prometheus and adds or removes
workers through the project's own scale-out and graceful scale-in.

The load signal is the backlog, records in Kafka the stream has not processed yet
(`sdp_stream:lag_records`). Overloaded: above `lag_high` for `sustain` seconds and not shrinking,
so the workers cannot keep up. Idle: below `lag_low` for `idle` seconds, so one worker fewer will
do. The gap between the thresholds and the two windows are the hysteresis; after each change the
controller waits `cooldown` seconds, for a new worker's executor to take work or for the backlog
to settle on fewer workers.

Not the batch duration against the trigger: a micro-batch has a fixed cost (about 7 s on the
project's 2-core machine) above the 5 s trigger at any load, and Spark times only batches with
records, so that gauge is stale when nothing arrives.
"""

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from sdp.cluster.spec_copy import SpecCopy
from sdp.platform.checks import prometheus_query, spark_master_state
from sdp.platform.inventory import Inventory, load_inventory
from sdp.processes import sdp_cli

LAG = "sum(sdp_stream:lag_records)"


@dataclass(frozen=True)
class Policy:
    min_workers: int = 1
    max_workers: int = 4
    lag_high: float = 20_000  # records waiting that mean overload, if it lasts
    lag_low: float = 1_000  # records waiting that mean idle, if it lasts
    sustain: float = 60  # seconds the backlog must stay above lag_high
    idle: float = 180  # seconds it must stay below lag_low
    cooldown: float = 120  # seconds after a change before the next

    def problems(self) -> list[str]:
        """What is wrong with these settings, each naming its field; empty when none."""
        found = []
        if self.min_workers < 1:
            found.append(f"min_workers {self.min_workers}: at least 1 (the stream needs one)")
        if self.max_workers < self.min_workers:
            found.append(f"max_workers {self.max_workers}: below min_workers {self.min_workers}")
        if not 0 <= self.lag_low < self.lag_high:
            found.append(f"lag_low {self.lag_low:g}: from 0 to below lag_high {self.lag_high:g}")
        for name in ("sustain", "idle", "cooldown"):
            if getattr(self, name) < 0:
                found.append(f"{name} {getattr(self, name):g}: seconds, not negative")
        return found


@dataclass(frozen=True)
class Reading:
    at: float  # Unix seconds
    lag: float | None  # records waiting in Kafka; None when Prometheus had no value
    workers: int  # Spark workers ALIVE


@dataclass(frozen=True)
class Decision:
    change: int  # +1, -1 or 0 workers
    reason: str


def held(readings: list[Reading], now: float, seconds: float, test: Callable[[float], bool]):
    """The reading that opens `seconds` of readings that all pass `test` up to now, or None.

    A missing value breaks the run, and so does history shorter than the window: the controller
    acts only on what it saw.
    """
    for r in reversed(readings):
        if r.lag is None or not test(r.lag):
            return None
        if r.at <= now - seconds:
            return r
    return None


def decide(policy: Policy, readings: list[Reading], last_change: float, now: float) -> Decision:
    """What to do given the readings so far (oldest first) and when the last change finished."""
    workers = readings[-1].workers
    if now - last_change < policy.cooldown:
        return Decision(0, f"cooling down, {policy.cooldown - (now - last_change):.0f} s left")
    start = held(readings, now, policy.sustain, lambda lag: lag > policy.lag_high)
    if start is not None and readings[-1].lag >= start.lag:
        if workers >= policy.max_workers:
            return Decision(0, f"overloaded, but at the most workers ({policy.max_workers})")
        return Decision(
            +1,
            f"backlog above {policy.lag_high:g} for {policy.sustain:g} s and not shrinking "
            f"({start.lag:.0f} -> {readings[-1].lag:.0f})",
        )
    if held(readings, now, policy.idle, lambda lag: lag < policy.lag_low) is not None:
        if workers > policy.min_workers:
            return Decision(-1, f"backlog below {policy.lag_low:g} for {policy.idle:g} s")
        return Decision(0, f"idle, at the fewest workers ({policy.min_workers})")
    return Decision(0, "steady")


def alive_workers(inv: Inventory) -> int:
    """The master's count of ALIVE workers (a restarted worker's old DEAD entry aside)."""
    return len({w["host"] for w in spark_master_state(inv)["workers"] if w["state"] == "ALIVE"})


def read(inv: Inventory) -> Reading:
    lag = prometheus_query(inv, LAG)
    return Reading(time.time(), next(iter(lag.values()), None), alive_workers(inv))


class Pool:
    """A pool of Spark workers in a copy of the cluster spec, resized as a user does it: the count
    changed, the inventory regenerated, and the platform's own commands."""

    def __init__(self, cluster: SpecCopy, show: bool = True):
        self.cluster, self.show = cluster, show

    @property
    def inventory(self) -> Inventory:
        return load_inventory(self.cluster.inventory_dir)

    def _sdp(self, group: str, command: str, *args: str) -> str:
        return sdp_cli(group, command, "-i", str(self.cluster.inventory_dir), *args, show=self.show)

    def scale_out(self, count: int) -> tuple[list[str], list[str]]:
        """Raise the count; `sdp platform scale-out` boots the new container hosts and configures
        them (and PostgreSQL's and Prometheus' hosts): (new hosts, the playbook's recap lines)."""
        before = set(self.inventory.hosts("spark_worker"))
        inv = self.cluster.workers(count)
        new = [h for h in inv.hosts("spark_worker") if h not in before]
        out = self._sdp("platform", "scale-out", *new)
        return new, [line for line in out.splitlines() if ": ok=" in line]

    def scale_in(self, count: int) -> list[str]:
        """Decommission the pool's last workers (their executors finish first), lower the count,
        remove their container hosts, and refresh Prometheus' targets: the hosts removed."""
        workers = self.inventory.hosts("spark_worker")
        gone = workers[count - len(workers) :]
        self._sdp("platform", "scale-in", *gone)
        if self.inventory.container_hosts:
            sdp_cli("hosts", "destroy", str(self.cluster.inventory_dir),
                    *(f"--host={h}" for h in gone))  # fmt: skip
        self.cluster.workers(count)
        self._sdp("platform", "up", "--", "--tags", "prometheus", "--limit", "monitoring")
        return gone


def log(event: dict, path: Path | None) -> None:
    line = json.dumps(event, default=str)
    print(line, file=sys.stderr, flush=True)
    if path:
        with path.open("a") as f:
            f.write(line + "\n")


def run(pool: Pool, policy: Policy, interval: float, seconds: float, log_path: Path | None) -> list:
    """Read, decide and act every `interval` seconds for `seconds` (0: until interrupted); every
    reading and change goes to stderr and `log_path` as a JSON line. Returns the changes."""
    readings: list[Reading] = []
    changes: list[dict] = []
    last_change = 0.0
    stop = time.time() + seconds if seconds else float("inf")
    log({"event": "start", "policy": asdict(policy)}, log_path)
    while time.time() < stop:
        try:
            reading = read(pool.inventory)
        except OSError as exc:  # Prometheus or the master did not answer: no reading, no action
            log({"event": "unread", "at": time.time(), "error": str(exc)}, log_path)
            time.sleep(interval)
            continue
        readings.append(reading)
        decision = decide(policy, readings, last_change, reading.at)
        log({"event": "reading", **asdict(reading), "decision": decision.reason}, log_path)
        if decision.change:
            target = reading.workers + decision.change
            started = time.time()
            log({"event": "scaling", "at": started, "to": target, "why": decision.reason}, log_path)
            if decision.change > 0:
                hosts, _ = pool.scale_out(target)
            else:
                hosts = pool.scale_in(target)
            last_change = time.time()
            change = {"event": "scaled", "at": last_change, "started": started, "to": target,
                      "hosts": hosts, "why": decision.reason}  # fmt: skip
            changes.append(change)
            log(change, log_path)
        time.sleep(interval)
    return changes
