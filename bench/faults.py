"""Faults under load on the running platform: a part of the pipeline fails while generated
traffic flows through it, and every record is counted.

    python -m bench.faults                                  # every scenario, 20,000 events each
    python -m bench.faults postgres-restart --count 100000
    python -m bench.faults --json > faults.json

Scenarios (on the inventory's hosts; the single-host platform of `make up` by default):

  stream-kill       SIGKILL the streaming job's driver; systemd starts it again
  postgres-restart  restart PostgreSQL: the Iceberg catalog and the serving tables
  minio-restart     restart MinIO: the lake's storage (all of it, on a single host)
  kafka-kill        SIGKILL a Kafka broker (the only one on a single host), start it --outage
                    seconds later

Each scenario waits until the stream has caught up, produces half of `count` shopping events (and
the searches, sessions and reviews they bring; acks=all, idempotent), makes the fault, produces
the other half (into the outage, for Kafka and MinIO), and waits until the stream's batch log
holds every record. Then it counts the run's shopping events by event_id in bronze and silver:
lost are those not there, duplicated the extra copies. Recovery is the fault → the batch that
landed the last record. The producer's failed deliveries and systemd's restarts of the stream
are reported too.
"""

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import GreaterThanOrEqual
from rich.console import Console
from rich.table import Table

from bench.stream_pipeline import (
    STREAM_UNIT,
    hardware,
    on_host,
    sdp,
    stream_restarts,
    wait_for_batches,
)
from generator.catalog import load_catalog
from generator.generate import Limits, run_generate
from generator.producing import KafkaSink
from generator.simulator import Simulator
from sdp.lake.catalog import open_catalog
from sdp.platform.checks import kafka_bootstrap
from sdp.platform.inventory import LOCAL_INVENTORY, Inventory, load_inventory


class IdSink:
    """A Kafka sink that keeps the id of every shopping event it sends."""

    def __init__(self, inner: KafkaSink):
        self.inner, self.ids = inner, []
        self.sent = inner.sent  # run_generate reads the per-topic counts

    def send(self, topic: str, key, value: bytes) -> None:
        if topic == "shopping-events":
            self.ids.append(orjson.loads(value)["event_id"])
        self.inner.send(topic, key, value)

    def flush(self, timeout_s: float = 300) -> None:  # through a broker's outage
        self.inner.flush(timeout_s)


def kafka_kill(inv: Inventory, outage: float) -> threading.Thread:
    """The broker killed now and started `outage` seconds later, while the producer goes on."""
    on_host(inv, "kafka_broker", "systemctl kill --signal=SIGKILL sdp-kafka")

    def restart() -> None:
        time.sleep(outage)
        on_host(inv, "kafka_broker", "systemctl start sdp-kafka")

    thread = threading.Thread(target=restart)
    thread.start()
    return thread


# scenario → (what it does, the fault; a fault that ends later returns the thread that ends it)
SCENARIOS = {
    "stream-kill": (
        "SIGKILL the stream's driver",
        lambda inv, _: on_host(inv, "spark_master", f"systemctl kill -s SIGKILL {STREAM_UNIT}"),
    ),
    "postgres-restart": (
        "restart PostgreSQL (catalog, serving)",
        lambda inv, _: on_host(inv, "postgres", "systemctl restart 'postgresql@*-main.service'"),
    ),
    "minio-restart": (
        "restart MinIO (the lake's storage)",
        lambda inv, _: on_host(inv, "minio", "systemctl restart sdp-minio"),
    ),
    "kafka-kill": ("SIGKILL a Kafka broker, start it later", kafka_kill),
}


def counted(lake, table: str, ids: list[str], since: datetime) -> dict[str, int]:
    """Lost and duplicated of the run's shopping events in `table`, by event_id."""
    column = lake.load_table(table).scan(
        row_filter=GreaterThanOrEqual("_ingested_at", since.isoformat()),
        selected_fields=("event_id",),
    )
    landed = column.to_arrow()["event_id"]
    mine = pc.filter(landed, pc.is_in(landed, value_set=pa.array(ids)))
    copies = Counter(mine.to_pylist())
    return {
        "lost": sum(1 for i in ids if i not in copies),
        "duplicated": sum(n - 1 for n in copies.values()),
    }


def run(name: str, seed: int, args, inv: Inventory) -> dict:
    what, fault = SCENARIOS[name]
    print(f"{name}: {what}; {args.count:,} shopping events", file=sys.stderr)
    sdp("stream", "reconcile", "-i", str(args.inventory), "--wait", "900")
    restarts = stream_restarts(inv)
    since = datetime.now(UTC)
    # Event times span the last 300 s, so none is in the future (a dead letter) at any count.
    sim = Simulator(load_catalog(), seed=seed, start=time.time() - 300,
                    rate=args.count / 300, speed=1)  # fmt: skip
    kafka = KafkaSink(kafka_bootstrap(inv), **{"delivery.timeout.ms": 300_000})
    sink = IdSink(kafka)
    half = Limits(count=args.count // 2, pace=False, validate_every=0)
    run_generate(sim, sink, half)
    time.sleep(args.fault_after)
    faulted = datetime.now(UTC)
    ending = fault(inv, args.outage)
    run_generate(sim, sink, half)
    if isinstance(ending, threading.Thread):
        ending.join()
    lake = open_catalog(inv)  # a catalog connection of before the fault may be gone with it
    batches = wait_for_batches(lake, since, sum(kafka.sent.values()), args.timeout)
    return {
        "scenario": name,
        "seed": seed,
        "fault": what,
        "records_produced": sum(kafka.sent.values()),
        "shopping_events": len(sink.ids),
        "producer_failed": kafka.errors,
        "bronze": counted(lake, "bronze.shopping_events", sink.ids, since),
        "silver": counted(lake, "silver.shopping_events", sink.ids, since),
        "stream_restarts": stream_restarts(inv) - restarts,
        "recovery_seconds": round((batches[-1]["finished_at"] - faulted).total_seconds(), 1),
    }


def show(results: list[dict]) -> None:
    table = Table(title=f"faults under load — {hardware()}")
    for column in ("scenario", "records", "shopping events", "producer failed", "lost",
                   "duplicated", "stream restarts", "recovery s"):  # fmt: skip
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for r in results:
        lost = f"{r['bronze']['lost']} / {r['silver']['lost']}"
        dup = f"{r['bronze']['duplicated']} / {r['silver']['duplicated']}"
        table.add_row(r["scenario"], f"{r['records_produced']:,}", f"{r['shopping_events']:,}",
                      str(r["producer_failed"]), lost, dup, str(r["stream_restarts"]),
                      str(r["recovery_seconds"]))  # fmt: skip
    console = Console()
    console.print(table)
    console.print("lost and duplicated: bronze / silver, by event_id")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", help=f"of {', '.join(SCENARIOS)} (default all)")
    parser.add_argument("--count", type=int, default=20_000, help="shopping events per scenario")
    parser.add_argument("--fault-after", type=float, default=4, help="seconds after the 1st half")
    parser.add_argument("--outage", type=float, default=20, help="seconds a killed broker is down")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for landing")
    parser.add_argument(
        "--seed", type=int, default=None,
        help="the first scenario's seed, +1 for each next one (default: random): ids repeat "
        "with a seed, and silver drops ids it has seen",
    )  # fmt: skip
    parser.add_argument("--inventory", "-i", type=Path, default=LOCAL_INVENTORY)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"no such scenario: {', '.join(unknown)} (there are {', '.join(SCENARIOS)})")
    inv = load_inventory(args.inventory)
    seed = random.randrange(1 << 30) if args.seed is None else args.seed
    results = []
    for i, name in enumerate(args.scenarios or SCENARIOS):
        results.append(run(name, seed + i, args, inv))
        print(json.dumps(results[-1]), file=sys.stderr)  # each as it is done
    if args.json:
        print(json.dumps({"hardware": hardware(), "results": results}, indent=1))
    else:
        show(results)


if __name__ == "__main__":
    main()
