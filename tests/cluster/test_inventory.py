"""The inventory rendered from the spec: groups, counts, stable host variables."""

from pathlib import Path

import pytest
import yaml

from sdp.cluster.inventory import render
from sdp.cluster.spec import load_cluster, parse_cluster
from sdp.hosts.nspawn import load_spec
from sdp.platform.inventory import ANSIBLE_DIR, load_inventory

CLUSTER_INVENTORY = ANSIBLE_DIR / "inventories" / "cluster"


def _load(text: str, tmp_path: Path):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "hosts.yml").write_text(text)
    return load_inventory(tmp_path / "hosts.yml")


@pytest.mark.parametrize(
    ("profile", "counts"),
    [
        ("small", {"kafka_controller": 3, "kafka_broker": 3, "minio": 3, "postgres": 1,
                   "spark_master": 1, "spark_worker": 3, "airflow": 1, "monitoring": 1,
                   "superset": 1}),
        ("full", {"kafka_controller": 3, "kafka_broker": 3, "minio": 4, "postgres": 1,
                  "spark_master": 1, "spark_worker": 2, "airflow": 1, "monitoring": 1,
                  "superset": 1}),
    ],
)  # fmt: skip
def test_groups_and_counts(tmp_path, profile, counts):
    inv = _load(render(load_cluster(profile)), tmp_path)
    assert {g: len(inv.hosts(g)) for g in counts} == counts
    assert inv.cluster_name == f"sdp-{profile}"
    node_ids = [inv.hostvars[h]["kafka_node_id"] for h in inv.hosts("kafka_controller")]
    assert len(set(node_ids)) == 3


def test_adding_a_worker_keeps_every_existing_host_identical(tmp_path, raw_spec):
    before = _load(render(parse_cluster(raw_spec, "full")), tmp_path / "before")
    pools = raw_spec["profiles"]["full"]["pools"]
    next(p for p in pools if p["name"] == "sdp-spark-worker")["count"] += 1
    next(p for p in pools if p["name"] == "sdp-kafka")["count"] += 1
    after = _load(render(parse_cluster(raw_spec, "full")), tmp_path / "after")
    added = set(after.hostvars) - set(before.hostvars)
    assert added == {"sdp-spark-worker3", "sdp-kafka4"}
    for host, hostvars in before.hostvars.items():
        assert after.hostvars[host] == hostvars, host
    assert after.hostvars["sdp-kafka4"]["kafka_node_id"] == 14


def test_the_committed_inventory_is_the_small_profile():
    committed = (CLUSTER_INVENTORY / "hosts.yml").read_text()
    assert committed == render(load_cluster("small")), "run `make cluster-inventory`"


def test_the_inventory_boots_as_container_hosts():
    spec = load_spec(CLUSTER_INVENTORY)
    assert spec.bridge == "sdpbr1"
    assert spec.gateway == "10.232.0.1/24"
    assert [h.address for h in spec.hosts] == ["10.232.0.11", "10.232.0.12", "10.232.0.13"]


def test_rendering_is_plain_yaml_with_a_header():
    text = render(load_cluster("small"))
    assert text.startswith("# Generated from cluster.yml (profile small)")
    assert set(yaml.safe_load(text)["all"]) == {"vars", "hosts", "children"}
