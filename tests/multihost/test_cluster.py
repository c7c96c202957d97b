"""`make test-cluster`: the platform on separate hosts, as Ansible sees them.

Container hosts (systemd, sshd, an address each) from an inventory that `sdp cluster inventory`
generates from a test spec (cluster.yml here): site.yml on Kafka x3, MinIO x4, PostgreSQL, a
Spark master and 2 workers, Prometheus, the stream; the smoke; last, a broker and a MinIO node
stopped while data is written and read. `make test-experiments` adds (marker `experiment`)
experiment E2 on small data on the 2 workers, and experiment E3: the autoscaler adding a third
worker as the stream falls behind a burst of traffic (a raised count, `sdp platform scale-out`
on the new host only) and removing it once idle (`sdp platform scale-in`, the host removed, a
lowered count, Prometheus' targets again).
"""

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from generator.traffic import curve_factor
from sdp.cluster.spec_copy import SpecCopy
from sdp.paths import REPO_ROOT
from sdp.platform import checks
from sdp.platform.inventory import load_inventory
from sdp.processes import SDP
from tests.conftest import needs_container_hosts, sdp
from tests.multihost import smoke

pytestmark = [pytest.mark.integration, needs_container_hosts, pytest.mark.timeout(2400)]

SPEC = Path(__file__).with_name("cluster.yml")
PROFILE = "ci"
WORKER_POOL = "ct-worker"


class Cluster(SpecCopy):
    def sdp(self, *args: str):
        """`sdp GROUP COMMAND -i <the inventory> ARGS...`, which must exit 0."""
        result = sdp(*args[:2], "-i", str(self.inventory_dir), *args[2:])
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
        return result


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, stopwatch):
    work = tmp_path_factory.mktemp("multihost")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SDP_SECRETS_DIR", str(work / "secrets"))  # a fresh cluster, fresh secrets
        c = Cluster(SPEC, PROFILE, WORKER_POOL, work)
        c.workers(3)
        sdp("hosts", "destroy", str(c.inventory_dir))  # leftovers of an interrupted run
        c.workers(2)
        try:
            # `up` exits 0 only when every status check passes (sdp/platform/checks.py).
            with stopwatch("site.yml on 7 new container hosts (sdp platform up)"):
                c.sdp("platform", "up")
            yield c
        finally:  # a failed `up` too: the hosts hold 4 GB of a disk the next suites need
            c.workers(3)
            sdp("hosts", "destroy", str(c.inventory_dir))


def test_kafka_three_brokers_replicate_every_partition(cluster):
    inv = load_inventory(cluster.inventory_dir)
    brokers = sorted(inv.hostvars[h]["kafka_node_id"] for h in inv.hosts("kafka_broker"))
    replication = smoke.kafka_replication(inv)
    assert replication, "shopping-events has no partitions"
    for partition, (leader, replicas, isr) in replication.items():
        assert replicas == brokers, f"partition {partition}: replicas {replicas}"
        assert isr == brokers, f"partition {partition}: in sync {isr}"
        assert leader in brokers
    assert smoke.kafka_roundtrip(inv, 1000) == {"lost": 0, "duplicated": 0}


def test_minio_one_pool_over_four_hosts(cluster):
    inv = load_inventory(cluster.inventory_dir)
    servers = smoke.minio_servers(inv)
    assert len(servers) == 4
    assert all(s["state"] == "online" for s in servers), servers
    drives = [d for s in servers for d in s["drives"]]
    assert len(drives) == 4 and all(d["state"] == "ok" for d in drives), drives
    assert smoke.minio_through_every_host(inv) == dict.fromkeys(inv.hosts("minio"), True)


def test_prometheus_scrapes_every_host(cluster):
    inv = load_inventory(cluster.inventory_dir)
    targets = smoke.prometheus_targets(inv)
    assert {i for job, i in targets if job == "node"} == set(inv.hostvars)
    assert {i for job, i in targets if job == "spark-worker"} == set(inv.hosts("spark_worker"))
    assert {i for job, i in targets if job == "minio"} == set(inv.hosts("minio"))
    assert all(health == "up" for health in targets.values()), targets


def test_every_host_listens_only_on_its_cluster_address_and_takes_no_password(cluster):
    inv = load_inventory(cluster.inventory_dir)
    assert smoke.unexpected_listeners(inv) == []
    assert smoke.credential_findings(inv) == []
    assert smoke.pg_hba_findings(inv) == []


@pytest.mark.experiment
def test_e2_measures_the_jobs_on_every_worker(cluster, stopwatch, tmp_path):
    """Experiment E2 on small data (bench/scaling.py) on the 2 workers (it stops the stream, which
    holds every core, for its runs): each job's result is the one-process baseline's."""
    inv = cluster.workers(2)
    command = [sys.executable, "-m", "bench.scaling", "--rows", "20000", "--files", "4",
               "--workers", "2", "--reps", "1", "--work", str(cluster.spec.parent),
               "--profile", PROFILE, "--pool", WORKER_POOL, "--out", str(tmp_path)]  # fmt: skip
    with stopwatch("E2 on 2 workers, 20,000 events"):
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=2000)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    results = json.loads((tmp_path / "results.json").read_text())
    # Every job ran tasks on both workers and read every event.
    workers = set(inv.hosts("spark_worker"))
    [m] = results["measured"]
    assert {e["host"] for e in m["executors"]} == workers and set(m["load"]) == workers
    for r in m["runs"]:
        assert r["rows_in"] == 20000 and r["cores"] == 2, r
        assert {h for h, s in r["cpu_s"].items() if s > 0} == workers, r
    assert (tmp_path / "results.png").stat().st_size > 0


# E3's controller, tuned to this small cluster: the stream keeps up 10-15 s behind.
AUTOSCALE = {"--min": "2", "--max": "3", "--behind-high": "30", "--behind-low": "15",
             "--worker-rate": "2000", "--sustain": "20", "--idle": "30", "--cooldown": "20",
             "--interval": "5"}  # fmt: skip
REACTION = 20 + 2 * 5 + 5  # --sustain, two --intervals and a reading's own time


def first(log: Path, event: str, change: int, timeout: float) -> dict:
    """The controller's first `event` (scaling: decided, scaled: done) of a change in that
    direction, waiting up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
        found = [e for e in events if e["event"] == event and e.get("change") == change]
        if found:
            return found[0]
        time.sleep(5)
    raise AssertionError(
        f"no change of {change:+d} in {timeout:.0f} s:\n" + log.read_text()[-3000:]
    )


@pytest.mark.experiment
def test_e3_the_autoscaler_adds_a_worker_under_load_removes_it_idle_losing_nothing(
    cluster, stopwatch, tmp_path
):
    """E3 on container hosts: the stream (every core) falls behind a traffic burst, `sdp platform
    autoscale` adds ct-worker3 through scale-out (which configures only it and the two hosts
    that must learn it), the stream's executor joins it; idle, the controller decommissions it,
    removes its host and Prometheus' target; every record sent is in the lake exactly once."""
    inv = cluster.workers(2)
    new = "ct-worker3"
    assert checks.stream_application(inv), "the stream does not run (E2 starts it after its runs)"
    start = datetime.now(UTC)
    log = tmp_path / "autoscale.jsonl"
    options = [x for kv in AUTOSCALE.items() for x in kv]
    controller = subprocess.Popen(
        [SDP, "platform", "autoscale", "--profile", PROFILE, "--pool", WORKER_POOL,
         "--spec", str(cluster.spec), "--work", str(cluster.spec.parent), *options,
         "--log", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    # 2,800 shopping events/s in the sale (about 4,000 records/s on the four topics, twice what
    # the stream keeps up with here) at any hour of the generator's daily curve.
    rate = 2800 / (10 * curve_factor(time.time()))
    with (tmp_path / "generator.log").open("w") as out:
        generator = subprocess.Popen(
            [SDP, "generate", "--bootstrap", checks.kafka_bootstrap(inv), "--rate", f"{rate:.1f}",
             "--sale", "--duration", "300", "--seed", "7"],
            env={**os.environ, **checks.kafka_login_env(inv)}, stdout=out, stderr=out)  # fmt: skip
    try:
        with stopwatch("E3: a traffic burst until the controller decides to scale out"):
            first(log, "scaling", +1, 400)
        generator.terminate()  # the burst has done its work; the backlog drains
        generator.wait(60)
        with stopwatch("E3: the scale-out"):
            added = first(log, "scaled", +1, 600)
        # The stream takes every core: its application gets an executor on the new worker.
        deadline, cores = time.monotonic() + 120, None
        while cores != 3 and time.monotonic() < deadline:
            time.sleep(5)
            cores = (checks.stream_application(inv) or {}).get("cores")
        with stopwatch("E3: the backlog drained, idle, the scale-in"):
            removed = first(log, "scaled", -1, 600)
    finally:
        generator.kill()
        controller.terminate()
        controller.wait(120)
    events = [json.loads(x) for x in log.read_text().splitlines()]
    readings = [e for e in events if e["event"] == "reading"]
    # The controller acted within its reaction time of the stream falling 30 s behind for good.
    before = [r for r in readings if r["at"] < added["started"]]
    held = next(i for i in range(len(before), 0, -1) if (before[i - 1]["behind"] or 0) <= 30)
    assert added["started"] - before[held]["at"] <= REACTION, (added, before[held - 1 :])
    assert added["hosts"] == [new] and removed["hosts"] == [new]
    # Only the new host and the two that must learn it (pg_hba.conf, Prometheus' targets).
    assert smoke.recap_hosts("\n".join(added["recap"])) == {
        new, *inv.hosts("postgres"), *inv.hosts("monitoring")}  # fmt: skip
    assert cores == 3, f"the stream has {cores} cores, none on the new worker"

    inv = load_inventory(cluster.inventory_dir)
    assert cluster.count() == 2 and new not in inv.hostvars
    states = smoke.spark_workers(inv)
    alive = inv.addresses("spark_worker")
    assert sorted(s for a, s in states.items() if a in alive) == ["ALIVE", "ALIVE"]
    assert [s for a, s in states.items() if a not in alive] == ["DEAD"]  # the one removed
    assert new not in {i for _, i in smoke.prometheus_targets(inv)}
    with stopwatch("E3: sdp stream reconcile"):
        audit = sdp("stream", "reconcile", "-i", str(cluster.inventory_dir), "--wait", "300",
                    "--since", start.isoformat(), "--json")  # fmt: skip
    assert audit.returncode == 0, audit.stdout[-3000:] + audit.stderr[-2000:]
    topics = json.loads(audit.stdout)["topics"]
    assert sum(t["in_kafka"] for t in topics) > 0
    assert all(t["missing"] == 0 and t["duplicates"] == 0 for t in topics), topics


def test_a_stopped_broker_and_minio_node_lose_nothing(cluster):
    """Replication and erasure coding for real: with one of three brokers and one of four MinIO
    nodes stopped, acks=all still succeeds, and everything written before and during the outage
    reads back exactly once and intact; Prometheus alerts on the under-replicated partitions."""
    inv = load_inventory(cluster.inventory_dir)
    assert smoke.kafka_min_insync(inv) == "2"
    run = uuid.uuid4().hex
    smoke.kafka_produce(inv, run, range(1000))
    objects = {f"_smoke/{run}/{i}": os.urandom(256 * 1024) for i in range(20)}
    writer, reader = (smoke.minio_client(inv, h) for h in inv.hosts("minio")[:2])
    for key, body in objects.items():
        writer.put_object(Bucket=smoke.SMOKE_BUCKET, Key=key, Body=body)

    stopped = {inv.hosts("kafka_broker")[2]: "sdp-kafka", inv.hosts("minio")[3]: "sdp-minio"}
    try:
        for host, unit in stopped.items():
            result = smoke.ssh(inv, host, f"systemctl stop {unit}")
            assert result.returncode == 0, result.stderr
        smoke.kafka_produce(inv, run, range(1000, 2000))
        read = smoke.kafka_read(inv, run)
        assert smoke.delivery(read, run, range(2000)) == {"lost": 0, "duplicated": 0}
        for key, body in objects.items():
            assert reader.get_object(Bucket=smoke.SMOKE_BUCKET, Key=key)["Body"].read() == body, key
        # The brokers left lead partitions whose third replica is gone: the alert fires.
        firing = smoke.wait_for_alert(inv, "KafkaUnderReplicatedPartitions", timeout=240)
        assert {a["labels"]["instance"] for a in firing} <= set(inv.hosts("kafka_broker")[:2])
    finally:
        for host, unit in stopped.items():
            smoke.ssh(inv, host, f"systemctl start {unit}")
