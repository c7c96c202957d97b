"""Spark workers that follow the stream's load: a controller reads Prometheus and adds or removes
workers through the project's own scale-out and graceful scale-in.

The load signal is how far behind the stream is, in seconds of traffic: the records in Kafka it
has not processed yet (`sdp_stream:lag_records`) over the rate they arrive at. A stream that keeps
up is a batch or two behind (10-20 s on the project's 2-core machine) at any rate; one that does
not falls further behind every minute. Overloaded: more than `behind_high` seconds behind for
`sustain` seconds, the backlog not shrinking. Idle: less than `behind_low` seconds behind for
`idle` seconds, and the traffic in that time within what one worker fewer carries
(`worker_rate` records/s each). The gap between the thresholds and the two windows are the
hysteresis; after each change the controller waits `cooldown` seconds, for a new worker's
executor to take work or for the backlog to settle on fewer workers.

Not the batch duration against the trigger: a micro-batch has a fixed cost (about 7 s here)
above the 5 s trigger at any load, and Spark times only batches with records, so that gauge is
stale when nothing arrives.
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
# Records/s into the topics the stream reads (those it has a lag for); topic="" is a broker's
# total of all topics.
ARRIVING = (
    'sum(rate(kafka_server_brokertopicmetrics_messagesin_total{topic!=""}[1m])'
    " and on (topic) sdp_stream:lag_records)"
)


@dataclass(frozen=True)
class Policy:
    min_workers: int = 1
    max_workers: int = 4
    behind_high: float = 60  # seconds of traffic waiting: overload, if it lasts
    behind_low: float = 30  # seconds of traffic waiting: idle, if it lasts
    worker_rate: float = 2_000  # records/s one worker keeps up with (E3 measured 2,600)
    sustain: float = 60  # seconds it must stay above behind_high
    idle: float = 180  # seconds it must stay below behind_low
    cooldown: float = 120  # seconds after a change before the next

    def problems(self) -> list[str]:
        """What is wrong with these settings, each naming its field; empty when none."""
        found = []
        if self.min_workers < 1:
            found.append(f"min_workers {self.min_workers}: at least 1 (the stream needs one)")
        if self.max_workers < self.min_workers:
            found.append(f"max_workers {self.max_workers}: below min_workers {self.min_workers}")
        if not 0 <= self.behind_low < self.behind_high:
            found.append(
                f"behind_low {self.behind_low:g}: from 0 to below behind_high {self.behind_high:g}"
            )
        for name in ("worker_rate", "sustain", "idle", "cooldown"):
            if getattr(self, name) < 0:
                found.append(f"{name} {getattr(self, name):g}: not negative")
        return found


@dataclass(frozen=True)
class Reading:
    at: float  # Unix seconds
    lag: float | None  # records waiting in Kafka; None: Prometheus had no value
    rate: float | None  # records/s arriving
    workers: int  # Spark workers ALIVE

    @property
    def behind(self) -> float | None:
        """Seconds of traffic waiting (no traffic: the backlog itself, in records/1 s)."""
        if self.lag is None or self.rate is None:
            return None
        return self.lag / max(self.rate, 1.0)


@dataclass(frozen=True)
class Decision:
    change: int  # +1, -1 or 0 workers
    reason: str


def held(
    readings: list[Reading], now: float, seconds: float, test: Callable[[float], bool]
) -> list[Reading] | None:
    """The readings of the last `seconds` if all of them are behind by what passes `test`, the
    first of them from the window's start or before; else None.

    A missing value breaks the run, and so does history shorter than the window: the controller
    acts only on what it saw.
    """
    for i in range(len(readings) - 1, -1, -1):
        r = readings[i]
        if r.behind is None or not test(r.behind):
            return None
        if r.at <= now - seconds:
            return readings[i:]
    return None


def decide(policy: Policy, readings: list[Reading], last_change: float, now: float) -> Decision:
    """What to do given the readings so far (oldest first) and when the last change finished."""
    last = readings[-1]
    workers = last.workers
    if now - last_change < policy.cooldown:
        return Decision(0, f"cooling down, {policy.cooldown - (now - last_change):.0f} s left")
    over = held(readings, now, policy.sustain, lambda behind: behind > policy.behind_high)
    if over and last.lag >= over[0].lag:
        if workers >= policy.max_workers:
            return Decision(0, f"overloaded, but at the most workers ({policy.max_workers})")
        return Decision(
            +1,
            f"over {policy.behind_high:g} s behind for {policy.sustain:g} s, the backlog not "
            f"shrinking ({over[0].lag:.0f} -> {last.lag:.0f} records)",
        )
    calm = held(readings, now, policy.idle, lambda behind: behind < policy.behind_low)
    if calm:
        if workers <= policy.min_workers:
            return Decision(0, f"idle, at the fewest workers ({policy.min_workers})")
        peak = max(r.rate for r in calm)
        if peak >= (workers - 1) * policy.worker_rate:
            return Decision(0, f"keeping up, but {peak:.0f} records/s need {workers} workers")
        return Decision(
            -1,
            f"under {policy.behind_low:g} s behind for {policy.idle:g} s, at most {peak:.0f} "
            f"records/s",
        )
    return Decision(0, "steady")


def alive_workers(inv: Inventory) -> int:
    """The master's count of ALIVE workers (a restarted worker's old DEAD entry aside)."""
    return len({w["host"] for w in spark_master_state(inv)["workers"] if w["state"] == "ALIVE"})


def read(inv: Inventory) -> Reading:
    lag, rate = (next(iter(prometheus_query(inv, q).values()), None) for q in (LAG, ARRIVING))
    return Reading(time.time(), lag, rate, alive_workers(inv))


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
        inv = self.inventory
        gone = inv.hosts("spark_worker")[count:]
        self._sdp("platform", "scale-in", *gone)
        if inv.container_hosts:
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
        except (OSError, ValueError) as exc:  # no answer or no JSON: no reading, no action
            log({"event": "unread", "at": time.time(), "error": str(exc)}, log_path)
            time.sleep(interval)
            continue
        readings.append(reading)
        decision = decide(policy, readings, last_change, reading.at)
        log({"event": "reading", **asdict(reading), "behind": reading.behind,
             "decision": decision.reason}, log_path)  # fmt: skip
        if decision.change:
            target = pool.cluster.count() + decision.change  # the spec's count, not who is ALIVE
            started = time.time()
            log({"event": "scaling", "at": started, "to": target, "change": decision.change,
                 "why": decision.reason}, log_path)  # fmt: skip
            recap: list[str] = []
            if decision.change > 0:
                hosts, recap = pool.scale_out(target)
            else:
                hosts = pool.scale_in(target)
            last_change = time.time()
            change = {"event": "scaled", "at": last_change, "started": started, "to": target,
                      "change": decision.change, "hosts": hosts, "why": decision.reason,
                      "recap": recap}  # fmt: skip
            changes.append(change)
            log(change, log_path)
            readings.clear()  # decisions rest on readings at the current size only
        time.sleep(interval)
    return changes
