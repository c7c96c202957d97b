"""`make test-vm` (opt-in, slow under TCG): the small profile's shape as real VMs (tests/vm/
cluster.yml: 3 machines, every role co-located, sized for an emulated machine).

`vagrant up` (vagrant-libvirt, the locally built box, KVM or TCG as detected), then `sdp
platform up --machines vms` (site.yml from the control node's artifact server and apt proxy on
the cluster network) and the same smoke as the container-host cluster; then a worker VM added by a
raised count (`vagrant up` of it, `sdp platform scale-out`) and taken out again (`sdp platform
scale-in`, a lowered count). `vagrant destroy` at the end, unless SDP_TEST_VM_KEEP=1: then the VMs
are kept (and reused by the next run, site.yml converging them again). The playbooks' output,
with each task's time, goes to STATE/*.log.
"""

import os
import subprocess
from pathlib import Path

import pytest

from sdp.paths import REPO_ROOT, work_dir
from sdp.platform.inventory import load_inventory
from tests.conftest import SDP, sdp
from tests.multihost import smoke
from tests.multihost.spec_copy import SpecCopy, recap_hosts

SPEC = Path(__file__).with_name("cluster.yml")
PROFILE = "vm"
WORKER_POOL = "sdp-worker"
NEW_WORKER = "sdp-worker1"
# Outside the clone and kept: an interrupted run's VMs are found (and destroyed) by the next.
STATE = work_dir() / "test-vm"
HOURS = 3600
KEEP = os.environ.get("SDP_TEST_VM_KEEP") == "1"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("SDP_TEST_VM") != "1",
        reason="opt-in (boots 4 VMs; about 2 h 10 min under TCG): make test-vm",
    ),
    pytest.mark.timeout(4 * HOURS),
]


def vagrant(spec: SpecCopy, *args: str, timeout: float = HOURS) -> None:
    env = {
        **os.environ,
        "SDP_SPEC": str(spec.spec),
        "SDP_PROFILE": PROFILE,
        "SDP_INVENTORY": str(spec.inventory_dir / "hosts.yml"),
        "VAGRANT_DOTFILE_PATH": str(STATE / ".vagrant"),
        "VAGRANT_DEFAULT_PROVIDER": "libvirt",
    }
    result = subprocess.run(
        ["vagrant", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def vms(stopwatch):
    with stopwatch("vm: sdp cluster image (skipped when built)"):
        built = sdp("cluster", "image", "--profile", PROFILE, "--spec", str(SPEC))
        assert built.returncode == 0, built.stderr
    spec = SpecCopy(SPEC, PROFILE, WORKER_POOL, STATE)
    spec.workers(1)
    # An interrupted run's VMs; a kept cluster is reused, but never its added worker.
    vagrant(spec, "destroy", "-f", *([NEW_WORKER] if KEEP else []))
    spec.workers(0)
    try:
        with stopwatch("vm: vagrant up (3 VMs)"):
            vagrant(spec, "up")
        with stopwatch("vm: site.yml on the VMs and every check (sdp platform up)"):
            platform(spec, "up", "--machines", "vms")
        yield spec
    finally:
        if not KEEP:
            spec.workers(1)
            with stopwatch("vm: vagrant destroy"):
                vagrant(spec, "destroy", "-f")


def platform(spec: SpecCopy, command: str, *args: str, log: str = "") -> str:
    """`sdp platform COMMAND` on the VMs; its output (and each task's time) goes to
    STATE/platform-{log or COMMAND}.log as it runs, and is returned."""
    env = {**os.environ, "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}
    path = STATE / f"platform-{log or command}.log"
    with path.open("w") as out:
        done = subprocess.run(
            [SDP, "platform", command, "-i", str(spec.inventory_dir), *args],
            stdout=out, stderr=subprocess.STDOUT, env=env, timeout=3 * HOURS,
        )  # fmt: skip
    assert done.returncode == 0, f"sdp platform {command} exited {done.returncode}: see {path}"
    return path.read_text()


def test_smoke_on_the_vms(vms, stopwatch):
    inv = load_inventory(vms.inventory_dir)
    brokers = sorted(inv.hostvars[h]["kafka_node_id"] for h in inv.hosts("kafka_broker"))
    with stopwatch("vm: smoke (Kafka, MinIO, Spark on every worker, Prometheus)"):
        for _partition, (_leader, replicas, isr) in smoke.kafka_replication(inv).items():
            assert replicas == brokers and isr == brokers
        assert smoke.kafka_roundtrip(inv, 1000) == 1000
        assert smoke.minio_through_every_host(inv) == dict.fromkeys(inv.hosts("minio"), True)
        # under TCG the job did not finish in the container hosts' 600 s
        assert set(smoke.spark_job(inv, timeout=HOURS)) == set(inv.hosts("spark_worker"))
        targets = smoke.prometheus_targets(inv)
        assert {i for job, i in targets if job == "node"} == set(inv.hostvars)
        assert all(health == "up" for health in targets.values()), targets


def test_scale_out_and_in_a_worker_vm(vms, stopwatch):
    before = vms.workers(0)
    assert set(smoke.spark_workers(before).values()) == {"ALIVE"}
    inv = vms.workers(1)
    with stopwatch("vm scale-out: vagrant up 1 VM"):
        vagrant(vms, "up", NEW_WORKER)
    with stopwatch(f"vm scale-out: sdp platform scale-out {NEW_WORKER}"):
        out = platform(vms, "scale-out", NEW_WORKER)
    assert recap_hosts(out) == {NEW_WORKER, *inv.hosts("postgres"), *inv.hosts("monitoring")}
    states = smoke.spark_workers(inv)
    assert sorted(a for a, s in states.items() if s == "ALIVE") == sorted(
        inv.addresses("spark_worker")
    )
    assert smoke.prometheus_targets(inv)[("node", NEW_WORKER)] == "up"

    with stopwatch(f"vm scale-in: sdp platform scale-in {NEW_WORKER}"):
        platform(vms, "scale-in", NEW_WORKER)
    assert smoke.spark_workers(inv)[inv.address(NEW_WORKER)] == "DEAD"
    with stopwatch("vm scale-in: vagrant destroy 1 VM"):
        vagrant(vms, "destroy", "-f", NEW_WORKER)
    inv = vms.workers(0)
    with stopwatch("vm scale-in: Prometheus targets again (monitoring host only)"):
        platform(vms, "up", "--", "--tags", "prometheus", "--limit", "monitoring", log="targets")
    assert NEW_WORKER not in {i for _, i in smoke.prometheus_targets(inv)}
