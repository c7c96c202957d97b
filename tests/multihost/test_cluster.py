"""`make test-cluster`: the platform on separate hosts, as Ansible sees them.

Container hosts (systemd, sshd, an address each) from an inventory that `sdp cluster inventory`
generates from a test spec (cluster.yml here): site.yml on Kafka x3, MinIO x4, PostgreSQL, a
Spark master and 2 workers, Prometheus; the smoke; then experiment E2 on small data, which adds
one more worker through the scale playbook (a raised count, `sdp platform scale-out` on the new
host only) between its runs on 2 and 3 workers; back (`sdp platform scale-in`, a lowered count,
Prometheus' targets again); last, a broker and a MinIO node stopped while data is written and
read.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from sdp.cluster.spec_copy import SpecCopy
from sdp.paths import REPO_ROOT
from sdp.platform.inventory import load_inventory
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


def test_scale_out_configures_only_the_new_worker_and_e2_measures_it(cluster, stopwatch, tmp_path):
    """Experiment E2 on small data (bench/scaling.py) does the scale-out, as a user would: its
    jobs on the 2 workers, a raised count, `sdp platform scale-out ct-worker3` (which boots it),
    the jobs again on 3, each run giving the one-process baseline's result."""
    before = cluster.workers(2)
    assert sorted(smoke.spark_workers(before).values()) == ["ALIVE", "ALIVE"]
    new = "ct-worker3"
    command = [sys.executable, "-m", "bench.scaling", "--rows", "20000", "--files", "4",
               "--workers", "2,3", "--reps", "1", "--work", str(cluster.spec.parent),
               "--profile", PROFILE, "--pool", WORKER_POOL, "--out", str(tmp_path)]  # fmt: skip
    with stopwatch("E2 on 2 then 3 workers, 20,000 events (the scale-out included)"):
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=2000)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    inv = load_inventory(cluster.inventory_dir)
    # Only the new host and the two that must learn it (pg_hba.conf, Prometheus' targets).
    assert smoke.recap_hosts(done.stderr) == {new, *inv.hosts("postgres"), *inv.hosts("monitoring")}

    alive = [a for a, state in smoke.spark_workers(inv).items() if state == "ALIVE"]
    assert sorted(alive) == sorted(inv.addresses("spark_worker"))  # 3 ALIVE
    assert smoke.prometheus_targets(inv)[("node", new)] == "up"
    results = json.loads((tmp_path / "results.json").read_text())
    # Every job ran tasks on every worker, the new one included, and read every event.
    for m in results["measured"]:
        workers = inv.hosts("spark_worker")[: m["workers"]]
        assert {e["host"] for e in m["executors"]} == set(workers)
        assert set(m["load"]) == set(workers)
        for r in m["runs"]:
            assert r["rows_in"] == 20000 and r["cores"] == m["workers"], r
            assert {h for h, s in r["cpu_s"].items() if s > 0} == set(workers), r
    assert [m["workers"] for m in results["measured"]] == [2, 3]
    assert all(c["efficiency"] > 0 for s in results["summary"].values()
               for c in s["workers"].values())  # fmt: skip
    assert (tmp_path / "results.png").stat().st_size > 0


def test_scale_in_decommissions_the_worker(cluster, stopwatch):
    inv = cluster.workers(3)
    gone = inv.address("ct-worker3")
    with stopwatch("scale-in: sdp platform scale-in ct-worker3"):
        cluster.sdp("platform", "scale-in", "ct-worker3")
    states = smoke.spark_workers(inv)
    assert states[gone] == "DEAD"
    assert sorted(s for a, s in states.items() if a != gone) == ["ALIVE", "ALIVE"]

    inv = cluster.workers(2)  # the lowered count; Prometheus forgets the host
    with stopwatch("scale-in: Prometheus targets again (monitoring host only)"):
        cluster.sdp("platform", "up", "--", "--tags", "prometheus", "--limit", "monitoring")
    assert "ct-worker3" not in {i for _, i in smoke.prometheus_targets(inv)}


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
