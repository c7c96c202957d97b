"""Faults under load on the running platform: a part of the pipeline fails while generated
traffic flows through it, and every record is counted.

    python -m bench.faults                                  # every scenario, 20,000 events each
    python -m bench.faults postgres-restart --count 100000
    python -m bench.faults --json > faults.json

Scenarios, on the inventory's hosts (the single-host platform of `make up` by default, or a
multi-host cluster: `-i DIR`):

  stream-kill       SIGKILL the streaming job's driver; systemd starts it again
  postgres-restart  restart PostgreSQL: the Iceberg catalog and the serving tables
  minio-stop        stop MinIO on one host for --outage seconds (all of the lake's storage on a
                    single host, one of four nodes on a cluster), start it; its drives' healing
  kafka-kill        SIGKILL the broker leading partition 0 of shopping-events, start it --outage
                    seconds later
  kafka-partition   cut that broker off every other host and the control node for --outage
                    seconds (blackhole routes the host itself removes again); the in-sync
                    replicas shrink and grow back
  worker-poweroff   power a Spark worker host off mid-batch (container hosts: booted again
                    --outage seconds later); needs a host that is only a worker

Each scenario waits until the stream has caught up, produces half of `count` shopping events (and
the searches, sessions and reviews they bring; acks=all, idempotent), makes the fault, produces
the other half (into the outage, for Kafka and MinIO), and waits until the stream's batch log
holds every record. Then it counts the run's shopping events by event_id in bronze and silver:
lost are those not there, duplicated the extra copies, and `sdp stream reconcile` audits every
topic's records since the scenario began. Recovery is the fault → the batch that landed the last
record. The producer's failed deliveries and systemd's restarts of the stream are reported too.
"""

import argparse
import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from shlex import quote

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from pyiceberg.expressions import GreaterThanOrEqual
from rich.console import Console
from rich.table import Table

from bench.stream_pipeline import (
    STREAM_UNIT,
    hardware,
    on_host,
    run_on,
    sdp,
    stream_restarts,
    wait_for_batches,
)
from generator.catalog import load_catalog
from generator.generate import Limits, run_generate
from generator.producing import KafkaSink
from generator.simulator import Simulator
from sdp.lake.catalog import open_catalog
from sdp.platform import settings
from sdp.platform.checks import kafka_client
from sdp.platform.inventory import LOCAL_INVENTORY, Inventory, load_inventory
from sdp.processes import SDP


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


def later(seconds: float, action: Callable[[], object]) -> threading.Thread:
    """`action` `seconds` from now, in a thread the scenario joins (the end of an outage)."""

    def wait_and_act() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=wait_and_act)
    thread.start()
    return thread


def partitions(inv: Inventory) -> dict[int, tuple[int, list[int]]]:
    """shopping-events' partitions as the brokers see them: (leader, in-sync replicas)."""
    admin = AdminClient(kafka_client(inv))
    topic = admin.list_topics("shopping-events", timeout=30).topics["shopping-events"]
    return {p.id: (p.leader, sorted(p.isrs)) for p in topic.partitions.values()}


def kafka_leader(inv: Inventory) -> str:
    """The host of the broker leading partition 0 of shopping-events (on a cluster, the leader
    of some of its partitions: leadership is spread over the brokers)."""
    leader = partitions(inv)[0][0]
    brokers = inv.hosts("kafka_broker")
    return next(h for h in brokers if int(inv.hostvars[h].get("kafka_node_id", 1)) == leader)


def kafka_kill(inv: Inventory, args, notes: dict) -> threading.Thread:
    """The leader's broker killed now and started --outage seconds later."""
    host = notes["host"] = kafka_leader(inv)
    # the main process itself: systemctl kill also walks the unit's cgroup, which a container
    # host could not list once (EIO)
    run_on(inv, host, "kill -KILL $(systemctl show -p MainPID --value sdp-kafka)")
    return later(args.outage, lambda: run_on(inv, host, "systemctl start sdp-kafka"))


def kafka_partition(inv: Inventory, args, notes: dict) -> threading.Thread:
    """The leader's host cut off every other host and the control node for --outage seconds.
    The host adds and removes the blackhole routes itself (a transient unit): its SSH is cut too,
    and a bench that dies mid-way still leaves it healed."""
    host = notes["host"] = kafka_leader(inv)
    peers = {inv.address(h) for h in inv.hostvars} | {inv.var("sdp_control_node_address")}
    peers.discard(inv.address(host))

    def routes(verb: str) -> str:
        return "; ".join(f"ip route {verb} blackhole {a}/32" for a in sorted(peers))

    script = f"sleep 2; {routes('add')}; sleep {args.outage:g}; {routes('del')}"
    run_on(inv, host, f"systemd-run --unit=sdp-bench-partition --collect sh -c {quote(script)}")
    cut, brokers = time.monotonic() + 2, len(inv.hosts("kafka_broker"))

    def in_sync() -> int:  # the fewest in-sync replicas of any partition
        return min(len(isr) for _, isr in partitions(inv).values())

    def watch() -> None:
        fewest = brokers
        try:
            while time.monotonic() < cut + args.outage:
                fewest = min(fewest, in_sync())
                time.sleep(2)
            while in_sync() < brokers:
                time.sleep(2)
        except KafkaException as exc:  # said in the table, not lost in a thread's traceback
            notes["isr"] = f"not watched: {exc}"
            return
        back = time.monotonic() - cut - args.outage
        notes["isr"] = f"in sync {brokers}→{fewest}→{brokers}, {back:.0f} s after the heal"

    return later(0, watch)


def minio_stop(inv: Inventory, args, notes: dict) -> threading.Thread:
    """MinIO stopped on one host for --outage seconds, then started; its drives healed."""
    host = notes["host"] = inv.first("minio")
    run_on(inv, host, "systemctl stop sdp-minio")

    def back() -> None:
        run_on(inv, host, "systemctl start sdp-minio")
        notes["heal"] = minio_healed(inv, host)

    return later(args.outage, back)


def minio_healed(inv: Inventory, host: str, timeout: float = 600) -> str:
    """Waits until `mc admin info` shows every drive ok, then heals every bucket (`mc admin heal
    -r`): what the drives' return took, and what was left to heal by then (MinIO heals objects
    written during an outage in the background too)."""
    mc, started = settings.platform("sdp_opt_dir") + "/bin/mc", time.monotonic()
    while True:
        info = run_on(inv, host, f"{mc} admin info sdp --json || true")
        try:  # not JSON while MinIO starts
            servers = orjson.loads(info)["info"]["servers"]
        except (orjson.JSONDecodeError, KeyError):
            servers = []
        drives = [d for s in servers for d in s.get("drives", [])]
        if drives and all(d.get("state") == "ok" for d in drives):
            break
        if time.monotonic() - started > timeout:
            return f"drives not all ok after {timeout:.0f} s"
        time.sleep(3)
    back = time.monotonic() - started
    healing = run_on(inv, host, f"{mc} admin heal -r sdp --json").splitlines()
    summary = next(r for r in map(orjson.loads, healing) if r.get("type") == "summary")
    healed, scanned = summary["objects_healed"], summary["objects_scanned"]
    return f"{len(drives)} drives ok {back:.0f} s after the start; heal -r: {healed}/{scanned}"


def worker_poweroff(inv: Inventory, args, notes: dict) -> threading.Thread:
    """A Spark worker host powered off now, booted again --outage seconds later."""
    only_workers = [h for h in inv.hosts("spark_worker")
                    if not any(h in hosts for g, hosts in inv.groups.items()
                               if g not in ("all", "ungrouped", "spark_worker"))]  # fmt: skip
    if not only_workers:
        sys.exit("worker-poweroff: no host is only a Spark worker (on the single-host platform, "
                 "powering the worker off stops everything)")  # fmt: skip
    host = notes["host"] = only_workers[0]
    if run_on(inv, host, "systemd-detect-virt") != "systemd-nspawn":
        sys.exit(f"worker-poweroff: {host} is not a container host; this bench boots only those")
    subprocess.run(inv.ssh(host, "systemctl poweroff"), capture_output=True, timeout=60)
    return later(args.outage, lambda: sdp("hosts", "up", str(args.inventory)))


# scenario → (what it does, the fault: it gets the inventory, the options and a dict for what it
# observed, and returns the thread that ends an outage, if it has one)
SCENARIOS: dict[str, tuple[str, Callable]] = {
    "stream-kill": (
        "SIGKILL the stream's driver",
        lambda inv, *_: on_host(inv, "spark_master", f"systemctl kill -s SIGKILL {STREAM_UNIT}"),
    ),
    "postgres-restart": (
        "restart PostgreSQL (catalog, serving)",
        lambda inv, *_: on_host(inv, "postgres", "systemctl restart 'postgresql@*-main.service'"),
    ),
    "minio-stop": ("stop MinIO on a host, start it later", minio_stop),
    "kafka-kill": ("SIGKILL a leading Kafka broker, start it later", kafka_kill),
    "kafka-partition": ("cut a leading broker off the network, heal", kafka_partition),
    "worker-poweroff": ("power a Spark worker host off, boot it later", worker_poweroff),
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
    # caught up first; the audit reads only the last minutes (all of a used lake takes 30 s)
    sdp("stream", "reconcile", "-i", str(args.inventory), "--wait", "900", "--since", "10m")
    restarts = stream_restarts(inv)
    since = datetime.now(UTC)
    # Event times span the last 300 s, so none is in the future (a dead letter) at any count.
    sim = Simulator(load_catalog(), seed=seed, start=time.time() - 300,
                    rate=args.count / 300, speed=1)  # fmt: skip
    kafka = KafkaSink(kafka_client(inv, "generator"), **{"delivery.timeout.ms": 300_000})
    sink = IdSink(kafka)
    half = Limits(count=args.count // 2, pace=False, validate_every=0)
    run_generate(sim, sink, half)
    time.sleep(args.fault_after)
    faulted, notes = datetime.now(UTC), {}
    ending = fault(inv, args, notes)
    run_generate(sim, sink, half)
    if isinstance(ending, threading.Thread):
        ending.join()
    lake = open_catalog(inv)  # a catalog connection of before the fault may be gone with it
    batches = wait_for_batches(lake, since, sum(kafka.sent.values()), args.timeout)
    audit = subprocess.run([SDP, "stream", "reconcile", "-i", str(args.inventory), "--since",
                            since.isoformat(), "--wait", "600"], capture_output=True)  # fmt: skip
    return {
        "scenario": name,
        "seed": seed,
        "fault": what,
        **notes,
        "records_produced": sum(kafka.sent.values()),
        "shopping_events": len(sink.ids),
        "producer_failed": kafka.errors,
        "bronze": counted(lake, "bronze.shopping_events", sink.ids, since),
        "silver": counted(lake, "silver.shopping_events", sink.ids, since),
        "reconcile": {0: "ok", 1: "mismatch", 2: "not caught up"}.get(audit.returncode, "failed"),
        "stream_restarts": stream_restarts(inv) - restarts,
        "recovery_seconds": round((batches[-1]["finished_at"] - faulted).total_seconds(), 1),
    }


def show(results: list[dict]) -> None:
    table = Table(title=f"faults under load — {hardware()}")
    for column in ("scenario", "records", "shopping events", "producer failed", "lost",
                   "duplicated", "reconcile", "stream restarts", "recovery s", "seen"):  # fmt: skip
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for r in results:
        lost = f"{r['bronze']['lost']} / {r['silver']['lost']}"
        dup = f"{r['bronze']['duplicated']} / {r['silver']['duplicated']}"
        table.add_row(r["scenario"], f"{r['records_produced']:,}", f"{r['shopping_events']:,}",
                      str(r["producer_failed"]), lost, dup, r["reconcile"],
                      str(r["stream_restarts"]), str(r["recovery_seconds"]),
                      "; ".join(str(r[k]) for k in ("host", "isr", "heal") if k in r))  # fmt: skip
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
    parser.add_argument(
        "--outage", type=float, default=20, help="seconds a broker, MinIO or worker is down or cut"
    )
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
