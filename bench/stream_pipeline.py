"""The streaming job on the running platform (`make up`): throughput, latency, recovery.

    python -m bench.stream_pipeline throughput   # a 1M-event backlog: warm events/s, costs
    python -m bench.stream_pipeline history   # the same backlog before and after 4M more events
    python -m bench.stream_pipeline latency --rate 100 --duration 180  # event time → Postgres
    python -m bench.stream_pipeline latency --rate 100 --sale  # the same at the x10 sale peak
    python -m bench.stream_pipeline recovery --count 6000  # SIGKILL mid-batch → caught up

throughput: the stream is stopped, `count` shopping events (and the queries, sessions and
reviews they bring) are produced as a backlog, the stream is started and the batch log
(lake.ops.stream_batches) tells how long it took to land them: in batches of the stream's
max offsets per trigger, the sustained (warm) rate over all but the first two. Then a few
small batches (one shopping event each, with the ~200 open sessions the generator closes when
it stops) give the fixed cost of a batch (their median), and the per-record cost is a full
batch's duration less that, per record.

history: a backlog of `probe` events measured as throughput does, then `history` older events
(a day of traffic ending two hours ago) landed and the tables maintained (`sdp stream
maintain`, Airflow's daily job), then the same probe again: a batch should not cost more
because the tables hold more.

latency: events are generated paced at wall-clock time (speed 1, starting now) while
serving.event_counts in PostgreSQL is polled every 0.5 s. Events are produced in time order, so
event i is visible once the windows' counts add up to i; its latency is that moment minus its
event time. p50/p95/max are over all events of the run.

recovery: half of `count` shopping events is produced, the stream is SIGKILLed while it lands
them (as tests/streaming/test_stream_e2e.py does), the other half follows, and the batch log
tells when systemd's restart had landed every record: kill → caught up, the first batch after
the restart, and how many times systemd restarted the job (a second restart means the replay
failed).

All print the hardware, what ran where, the batch durations and where the batches' time went.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import orjson

from bench.generator_throughput import cpu_model
from generator.catalog import load_catalog
from generator.generate import Limits, run_generate
from generator.producing import KafkaSink
from generator.simulator import Simulator
from generator.traffic import SaleSwitch, curve_factor
from sdp.lake.catalog import open_catalog
from sdp.platform import settings
from sdp.platform.checks import kafka_client, serving_connection
from sdp.platform.inventory import LOCAL_INVENTORY, Inventory, load_inventory
from sdp.processes import ServiceError, sdp_cli

STREAM_UNIT = settings.role("spark", "spark_stream_name")


def hardware() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu_model()}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.platform()}"


def sdp(*args: str, show: bool = False) -> str:
    """sdp_cli for a benchmark: a failed command ends it, naming the command."""
    try:
        return sdp_cli(*args, show=show)
    except ServiceError as exc:
        sys.exit(str(exc))


def batches_since(lake, since: datetime) -> list[dict]:
    rows = lake.load_table("ops.stream_batches").scan().to_arrow().to_pylist()
    by_batch: dict[int, dict] = {}
    for r in rows:
        if r["started_at"] < since:
            continue
        b = by_batch.setdefault(
            r["batch_id"], {**r, "records": 0, "good": 0, "dead": 0, "shopping": 0}
        )
        for k in ("records", "good", "dead"):
            b[k] += r[k]
        if r["topic"] == "shopping-events":
            b["shopping"] += r["records"]
    return sorted(by_batch.values(), key=lambda b: b["batch_id"])


def duration(batch: dict) -> float:
    return (batch["finished_at"] - batch["started_at"]).total_seconds()


def describe_batches(batches: list[dict]) -> dict:
    if not batches:
        return {"batches": 0}
    durations = [duration(b) for b in batches]
    phases: dict[str, float] = {}
    for b in batches:
        for k, v in dict(b["seconds"] or {}).items():  # pyiceberg gives maps as pairs
            phases[k] = phases.get(k, 0.0) + v
    total = sum(durations)
    return {
        "batches": len(batches),
        "records": sum(b["records"] for b in batches),
        "batch_seconds_median": round(statistics.median(durations), 2),
        "batch_seconds_max": round(max(durations), 2),
        "share_of_batch_time": {k: f"{100 * v / total:.0f}%" for k, v in sorted(phases.items())},
    }


def wait_for_batches(lake, since: datetime, records: int, timeout_s: float) -> list[dict]:
    """The batches since `since` once they hold `records` records; progress on stderr."""
    deadline, shown = time.monotonic() + timeout_s, 0
    while True:
        try:
            batches = batches_since(lake, since)
        except OSError as exc:  # storage that is failing or back from a fault: say so, read again
            print(f"  reading the batch log: {exc}", file=sys.stderr)
            if time.monotonic() > deadline:
                raise
            time.sleep(5)
            continue
        landed = sum(b["records"] for b in batches)
        if landed > shown:
            b = batches[-1]
            print(f"  {landed:,}/{records:,} records; batch {b['batch_id']}: "
                  f"{b['records']:,} in {duration(b):.1f} s", file=sys.stderr)  # fmt: skip
            shown = landed
        if landed >= records:
            return batches
        if time.monotonic() > deadline:
            sys.exit(f"{landed:,} of {records:,} records landed after {timeout_s:.0f} s")
        time.sleep(5)


def throughput(args, inv, lake) -> dict:
    now = time.time()
    span = (now - 60 * args.start_minutes_ago, now)
    return backlog(inv, lake, args.count, span, args.seed, args.small_batches)[0]


def mean_rate(count: int, start: float, end: float) -> float:
    """The daily-mean rate at which the generator's `count` events span [start, end] on its
    daily curve: a fixed rate at night's low would run hours past `end`, into the future,
    where events are dead letters and the stream's watermark would close the windows of the
    present."""
    step = 60
    return count / (step * sum(curve_factor(t) for t in range(int(start), int(end), step)))


def backlog(
    inv: Inventory, lake, count: int, span: tuple[float, float], seed: int, small_batches: int
) -> tuple[dict, float]:
    """A backlog of `count` shopping events over the `span` of event time (epoch seconds)
    landed in capped batches (the stream's max offsets per trigger), then a few small batches:
    the fixed cost of a batch, whatever its size. Also the simulated time reached, where a
    backlog that must not overlap this one can start."""
    sdp("stream", "reconcile", "--wait", "600")
    sdp("stream", "stop")
    sim = Simulator(load_catalog(), seed=seed, start=span[0], rate=mean_rate(count, *span))
    sink = KafkaSink(kafka_client(inv, "generator"))
    produced_at = time.monotonic()
    events = run_generate(sim, sink, Limits(count=count, pace=False, validate_every=0))
    produce_s = time.monotonic() - produced_at
    records = sum(sink.sent.values())
    print(f"backlog: {events:,} shopping events, {records:,} records in {produce_s:.1f} s; "
          "starting the stream", file=sys.stderr)  # fmt: skip
    restart = datetime.now(UTC)
    sdp("stream", "start")
    batches = wait_for_batches(lake, restart, records, 3 * 3600)
    # The first two batches carry the JVM's warm-up: the sustained rate is over the rest.
    warm = batches[2:]
    small = []
    for _ in range(small_batches):
        since = datetime.now(UTC)
        before = sum(sink.sent.values())
        run_generate(sim, sink, Limits(count=1, pace=False, validate_every=0))
        small += wait_for_batches(lake, since, sum(sink.sent.values()) - before, 600)
    sdp("stream", "reconcile", "--wait", "600")
    result = {
        "shopping_events_produced": events,
        "records_produced": records,
        "produce_seconds": round(produce_s, 1),
        "landing_seconds": round((batches[-1]["finished_at"] - restart).total_seconds(), 1),
        "all_batches": describe_batches(batches),
    }
    if len(warm) >= 2:
        wall = (warm[-1]["finished_at"] - warm[0]["started_at"]).total_seconds()
        warm_records = sum(b["records"] for b in warm)
        shopping = sum(b["shopping"] for b in warm)
        result["warm"] = {
            "batches": len(warm),
            "records_per_second": round(warm_records / wall),
            "shopping_events_per_second": round(shopping / wall),
            **describe_batches(warm),
        }
    if small:
        fixed = statistics.median(duration(b) for b in small)
        result["small_batches"] = describe_batches(small)
        result["fixed_seconds_per_batch"] = round(fixed, 2)
        full = [b for b in warm if b["records"] >= 0.9 * max(b["records"] for b in warm)]
        if full:
            per_record = statistics.median((duration(b) - fixed) / b["records"] for b in full)
            result["per_record_microseconds"] = round(per_record * 1e6, 1)
    return result, sim.now


def lake_sizes(lake) -> dict:
    """Rows, data files and snapshots of the shopping events' bronze and silver tables."""
    sizes = {}
    for name in ("bronze.shopping_events", "silver.shopping_events"):
        table = lake.load_table(name)
        summary = table.current_snapshot().summary
        sizes[name] = {
            "rows": int(summary["total-records"]),
            "data_files": int(summary["total-data-files"]),
            "snapshots": len(table.metadata.snapshots),
        }
    return sizes


def history(args, inv, lake) -> dict:
    """The same backlog (`probe` events) landed before and after `history` more events, a day
    of older traffic ending two hours ago, followed by the tables' maintenance as Airflow runs
    it: does a batch cost more once the tables hold more? The probes' event times do not
    overlap each other's or the history's."""
    now = time.time()
    first, reached = backlog(inv, lake, args.probe, (now - 1800, now), args.seed,
                             args.small_batches)  # fmt: skip
    sizes = [lake_sizes(lake)]
    now = time.time()
    older, _ = backlog(inv, lake, args.history, (now - 26 * 3600, now - 7200), args.seed + 1, 0)
    maintained_at = time.monotonic()
    sdp("stream", "maintain", show=True)
    maintenance_s = time.monotonic() - maintained_at
    sizes.append(lake_sizes(lake))
    now = time.time()
    second, _ = backlog(inv, lake, args.probe, (max(now - 1800, reached), now), args.seed + 2,
                        args.small_batches)  # fmt: skip
    sizes.append(lake_sizes(lake))
    return {
        "probe_before": {"lake_before": sizes[0], **first},
        "history": {**older, "maintenance_seconds": round(maintenance_s)},
        "probe_after": {"lake_before": sizes[1], **second},
        "lake_after": sizes[2],
    }


class RecordingSink:
    """Kafka sink that remembers each shopping event's time, in production order."""

    def __init__(self, inner):
        self.inner, self.times = inner, []
        self.sent = inner.sent  # run_generate reads the per-topic counts

    def send(self, topic: str, key, value: bytes) -> None:
        if topic == "shopping-events":
            ts = orjson.loads(value)["timestamp"]
            self.times.append(datetime.fromisoformat(ts).timestamp())
        self.inner.send(topic, key, value)

    def flush(self, timeout_s: float = 30) -> None:
        self.inner.flush(timeout_s)


def latency(args, inv, lake) -> dict:
    sdp("stream", "reconcile", "--wait", "600")
    start = time.time()
    window_start = datetime.fromtimestamp(start - start % 300, UTC)
    visible: list[tuple[float, int]] = []
    done = threading.Event()

    def poll():
        with serving_connection(inv) as conn:

            def count() -> int:
                return conn.execute(
                    "SELECT coalesce(sum(events), 0) FROM serving.event_counts "
                    "WHERE window_start >= %s",
                    (window_start,),
                ).fetchone()[0]

            base = count()
            while not done.wait(0.5):
                visible.append((time.time(), int(count() - base)))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    sale = SaleSwitch(on=args.sale)
    sim = Simulator(load_catalog(), seed=args.seed, start=start, rate=args.rate, speed=1, sale=sale)
    sink = RecordingSink(KafkaSink(kafka_client(inv, "generator")))
    run_generate(sim, sink, Limits(duration_s=args.duration, validate_every=0))
    sdp("stream", "reconcile", "--wait", "600")
    time.sleep(2)
    done.set()
    poller.join()
    latencies, j = [], 0
    for i, event_time in enumerate(sink.times):
        while j < len(visible) and visible[j][1] < i + 1:
            j += 1
        if j == len(visible):
            break
        latencies.append(visible[j][0] - event_time)
    latencies.sort()
    return {
        "sale": args.sale,
        "shopping_events": len(sink.times),
        "events_per_second": round(len(sink.times) / args.duration, 1),
        "seen_in_postgres": len(latencies),
        "latency_p50_s": round(latencies[len(latencies) // 2], 2),
        "latency_p95_s": round(latencies[int(len(latencies) * 0.95)], 2),
        "latency_max_s": round(latencies[-1], 2),
        **describe_batches(batches_since(lake, datetime.fromtimestamp(start, UTC))),
    }


def on_host(inv: Inventory, group: str, command: str) -> str:
    """`command` on the first host of `group`, as Ansible reaches it; its output."""
    return run_on(inv, inv.first(group), command)


def run_on(inv: Inventory, host: str, command: str) -> str:
    """`command` on `host`, as Ansible reaches it; its output."""
    result = subprocess.run(inv.ssh(host, command), capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        sys.exit(f"{host}: {command} failed:\n{result.stderr[-2000:]}")
    return result.stdout.strip()


def stream_restarts(inv: Inventory) -> int:
    """How often systemd has restarted the stream's unit."""
    shown = on_host(inv, "spark_master", f"systemctl show -p NRestarts --value {STREAM_UNIT}")
    return int(shown or 0)


def recovery(args, inv, lake) -> dict:
    sdp("stream", "reconcile", "--wait", "600")
    before = stream_restarts(inv)
    since = datetime.now(UTC)
    sim = Simulator(load_catalog(), seed=args.seed, start=time.time() - 300, rate=100, speed=1)
    sink = KafkaSink(kafka_client(inv, "generator"))
    half = Limits(count=args.count // 2, pace=False, validate_every=0)
    run_generate(sim, sink, half)
    time.sleep(args.kill_after)
    on_host(inv, "spark_master", f"systemctl kill --signal=SIGKILL {STREAM_UNIT}")
    killed = datetime.now(UTC)
    run_generate(sim, sink, half)
    batches = wait_for_batches(lake, since, sum(sink.sent.values()), 1800)
    after = [b for b in batches if b["started_at"] > killed]
    return {
        "records_produced": sum(sink.sent.values()),
        "kill_after_seconds": args.kill_after,
        "batches_before_kill": len(batches) - len(after),
        "kill_to_caught_up_seconds": round(
            (batches[-1]["finished_at"] - killed).total_seconds(), 1
        ),
        "kill_to_first_batch_start_seconds": round(
            (after[0]["started_at"] - killed).total_seconds(), 1
        ),
        "first_batch_after_restart": {
            "records": after[0]["records"],
            "seconds": round(duration(after[0]), 1),
        },
        "systemd_restarts": stream_restarts(inv) - before,
        **describe_batches(after),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="mode", required=True)
    # Options several modes share, each written once.
    seeded = argparse.ArgumentParser(add_help=False)
    seeded.add_argument("--seed", type=int, default=1)
    sized = argparse.ArgumentParser(add_help=False)
    sized.add_argument("--small-batches", type=int, default=5,
                       help="small batches, for the fixed cost")  # fmt: skip
    t = sub.add_parser("throughput", parents=[seeded, sized])
    t.add_argument("--count", type=int, default=1_000_000, help="shopping events in the backlog")
    t.add_argument("--start-minutes-ago", type=float, default=30,
                   help="the backlog spans this many minutes of event time up to now; a span "
                        "that overlaps earlier runs' makes silver's duplicate check read their "
                        "rows")  # fmt: skip
    h = sub.add_parser("history", parents=[seeded, sized])
    h.add_argument("--probe", type=int, default=600_000, help="shopping events in each probe")
    h.add_argument("--history", type=int, default=4_000_000, help="older shopping events between")
    lat = sub.add_parser("latency", parents=[seeded])
    lat.add_argument("--rate", type=float, default=100, help="shopping events/s at mean traffic")
    lat.add_argument("--duration", type=float, default=180, help="seconds of traffic")
    lat.add_argument("--sale", action="store_true", help="the x10 sale peak all along")
    rec = sub.add_parser("recovery", parents=[seeded])
    rec.add_argument(
        "--count", type=int, default=6000, help="shopping events, half before the kill"
    )
    rec.add_argument("--kill-after", type=float, default=4, help="seconds after the first half")
    args = parser.parse_args()
    if args.mode == "throughput" and args.start_minutes_ago < 1:
        parser.error(f"--start-minutes-ago {args.start_minutes_ago}: at least 1 (the backlog's "
                     "span of event time)")  # fmt: skip
    inv = load_inventory(LOCAL_INVENTORY)
    lake = open_catalog(inv)
    started = time.monotonic()
    modes = {"throughput": throughput, "history": history, "latency": latency, "recovery": recovery}
    result = modes[args.mode](args, inv, lake)
    print(
        json.dumps(
            {
                "mode": args.mode,
                "hardware": hardware(),
                "setup": "every service co-hosted on one container host (make up); "
                "this process on the same machine",
                "trigger_seconds": settings.role("spark", "spark_stream_trigger_seconds"),
                "max_offsets_per_trigger": settings.role(
                    "spark", "spark_stream_max_offsets_per_trigger"
                ),
                "bench_seconds": round(time.monotonic() - started),
                **result,
            },
            indent=1,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
