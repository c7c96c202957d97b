"""The streaming job on the running platform (`make up`): throughput and end-to-end latency.

    python -m bench.stream_pipeline throughput --count 100000   # backlog: events/s into bronze
    python -m bench.stream_pipeline latency --rate 100 --duration 180  # event time → Postgres

throughput: the stream is stopped, `count` shopping events (and the queries, sessions and
reviews they bring) are produced as a backlog, the stream is started and the batch log
(lake.ops.stream_batches) tells how long it took to land them.

latency: events are generated paced at wall-clock time (speed 1, starting now) while
serving.event_counts in PostgreSQL is polled every 0.5 s. Events are produced in time order, so
event i is visible once the windows' counts add up to i; its latency is that moment minus its
event time. p50/p95/max are over all events of the run.

Both print the hardware, what ran where, the batch durations and where the batches' time went.
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
from pathlib import Path

import orjson

from bench.generator_throughput import cpu_model
from generator.catalog import load_catalog
from generator.generate import Limits, run_generate
from generator.producing import KafkaSink
from generator.simulator import Simulator
from jobs.lake import CATALOG, pyiceberg_properties
from sdp.platform import settings
from sdp.platform.checks import kafka_bootstrap, serving_connection
from sdp.platform.inventory import LOCAL_INVENTORY, load_inventory
from sdp.stream.reconcile import lake_settings

SDP = str(Path(sys.executable).with_name("sdp"))


def hardware() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu_model()}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.platform()}"


def sdp(*args: str) -> None:
    result = subprocess.run([SDP, *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"sdp {' '.join(args)} failed:\n{(result.stdout + result.stderr)[-2000:]}")


def batches_since(lake, since: datetime) -> list[dict]:
    rows = lake.load_table("ops.stream_batches").scan().to_arrow().to_pylist()
    by_batch: dict[int, dict] = {}
    for r in rows:
        if r["started_at"] < since:
            continue
        b = by_batch.setdefault(r["batch_id"], {**r, "records": 0, "good": 0, "dead": 0})
        for k in ("records", "good", "dead"):
            b[k] += r[k]
    return sorted(by_batch.values(), key=lambda b: b["batch_id"])


def describe_batches(batches: list[dict]) -> dict:
    if not batches:
        return {"batches": 0}
    durations = [(b["finished_at"] - b["started_at"]).total_seconds() for b in batches]
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


def throughput(args, inv, lake) -> dict:
    sdp("stream", "reconcile", "--wait", "600")
    sdp("stream", "stop")
    sim = Simulator(load_catalog(), seed=args.seed, start=time.time() - 1800, rate=500, speed=1)
    sink = KafkaSink(kafka_bootstrap(inv))
    produced_at = time.monotonic()
    events = run_generate(sim, sink, Limits(count=args.count, pace=False, validate_every=0))
    produce_s = time.monotonic() - produced_at
    restart = datetime.now(UTC)
    sdp("stream", "start")
    sdp("stream", "reconcile", "--wait", "3600")
    batches = batches_since(lake, restart)
    wall = (batches[-1]["finished_at"] - batches[0]["started_at"]).total_seconds()
    shopping = sum(b["records"] for b in batches)  # every topic's records
    return {
        "shopping_events_produced": events,
        "records_landed": shopping,
        "produce_seconds": round(produce_s, 1),
        "landing_seconds": round(wall, 1),
        "records_per_second": round(shopping / wall),
        "shopping_events_per_second": round(events / wall),
        **describe_batches(batches),
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
    sim = Simulator(load_catalog(), seed=args.seed, start=start, rate=args.rate, speed=1)
    sink = RecordingSink(KafkaSink(kafka_bootstrap(inv)))
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
        "shopping_events": len(sink.times),
        "events_per_second": round(len(sink.times) / args.duration, 1),
        "seen_in_postgres": len(latencies),
        "latency_p50_s": round(latencies[len(latencies) // 2], 2),
        "latency_p95_s": round(latencies[int(len(latencies) * 0.95)], 2),
        "latency_max_s": round(latencies[-1], 2),
        **describe_batches(batches_since(lake, datetime.fromtimestamp(start, UTC))),
    }


def main() -> None:
    from pyiceberg.catalog import load_catalog as load_iceberg

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--count", type=int, default=100_000, help="shopping events in the backlog")
    t.add_argument("--seed", type=int, default=1)
    lat = sub.add_parser("latency")
    lat.add_argument("--rate", type=float, default=100, help="shopping events/s at mean traffic")
    lat.add_argument("--duration", type=float, default=180, help="seconds of traffic")
    lat.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    inv = load_inventory(LOCAL_INVENTORY)
    lake = load_iceberg(CATALOG, **pyiceberg_properties(lake_settings(inv)))
    started = time.monotonic()
    result = (throughput if args.mode == "throughput" else latency)(args, inv, lake)
    print(
        json.dumps(
            {
                "mode": args.mode,
                "hardware": hardware(),
                "setup": "every service co-hosted on one container host (make up); "
                "this process on the same machine",
                "trigger_seconds": settings.role("spark", "spark_stream_trigger_seconds"),
                "bench_seconds": round(time.monotonic() - started),
                **result,
            },
            indent=1,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
