"""The daily batch on the running platform (`make up`): each `daily_analytics` task's time for
one shop day of `count` shopping events (default 1M).

    python -m bench.daily_batch                 # a day of 1,000,000 shopping events
    python -m bench.daily_batch --count 100000

A shop day (KST) with no shopping event in silver yet is generated on the simulator's daily
curve (the queries, sessions and reviews the events bring included), produced to Kafka unpaced
and landed by the running stream; then `daily_analytics` is triggered for that day through
Airflow's REST API and each task's duration read back. The day lies in the past, so on a
platform that has streamed anything newer its events are late for the stream and
`repair_gold_windows` computes all of the day's windows: its worst case.
"""

import argparse
import json
import sys
import time
from datetime import date

from bench.stream_pipeline import hardware, sdp
from generator.catalog import load_catalog
from generator.generate import Limits, run_generate
from generator.producing import KafkaSink
from generator.simulator import Simulator
from sdp.lake.catalog import open_catalog
from sdp.platform.checks import kafka_client
from sdp.platform.dag_runs import Airflow
from sdp.platform.inventory import LOCAL_INVENTORY, load_inventory
from tests.batch.test_daily_e2e import empty_days, midnight

DAG = "daily_analytics"


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    p.add_argument("--count", type=int, default=1_000_000, help="shopping events of the day")
    p.add_argument("--first-day", type=date.fromisoformat, default=date(2022, 1, 1),
                   help="the first day tried: the first with no events is used")  # fmt: skip
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    inv = load_inventory(LOCAL_INVENTORY)
    lake = open_catalog(inv)
    started = time.monotonic()
    (day,) = empty_days(lake, 1, args.first_day)
    print(f"shop day {day}: generating {args.count:,} shopping events", file=sys.stderr)
    sim = Simulator(load_catalog(), seed=args.seed, start=midnight(day).timestamp(),
                    rate=args.count / 86400)  # fmt: skip
    sink = KafkaSink(kafka_client(inv, "generator"))
    t = time.monotonic()
    events = run_generate(sim, sink, Limits(count=args.count, pace=False, validate_every=0))
    produce_s, records = time.monotonic() - t, sum(sink.sent.values())
    print(f"{records:,} records produced in {produce_s:.0f} s; the stream lands them",
          file=sys.stderr)  # fmt: skip
    t = time.monotonic()
    sdp("stream", "reconcile", "--wait", "7200")
    land_s = time.monotonic() - t
    print(f"landed in {land_s:.0f} s; daily_analytics for {day}", file=sys.stderr)
    with Airflow(inv) as airflow:
        run = airflow.run(DAG, f"bench-{day}-{int(time.time())}", midnight(day), timeout=7200)
    in_day = {
        r["check"]: r["observed"]
        for r in lake.load_table("gold.dq_results").scan(row_filter=f"day = '{day}'").to_arrow()
        .to_pylist()
    }  # fmt: skip
    print(json.dumps({
        "benchmark": "daily_batch",
        "hardware": hardware(),
        "setup": "every service co-hosted on one container host (make up); the stream running",
        "day": str(day),
        "shopping_events_generated": events,
        "records_produced": records,
        "shopping_events_in_the_day": in_day.get("rows"),
        "produce_seconds": round(produce_s),
        "landing_seconds": round(land_s),
        "run_state": run["state"],
        "task_seconds": {task: round(s or 0, 1) for task, (_, s) in run["tasks"].items()},
        "run_seconds": round(sum(s or 0 for _, s in run["tasks"].values()), 1),
        "bench_seconds": round(time.monotonic() - started),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
