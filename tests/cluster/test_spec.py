"""cluster.yml is checked before anything is built from it; every error names its field."""

import pytest
import yaml

from sdp.cluster.spec import SpecError, load_cluster, parse_cluster
from sdp.cluster.spec_copy import SpecCopy


def _pool(raw, profile, name):
    return next(p for p in raw["profiles"][profile]["pools"] if p["name"] == name)


def test_both_profiles_load():
    assert len(load_cluster("small").hosts) == 3
    assert len(load_cluster("full").hosts) == 13


def test_hosts_are_derived_from_pools():
    cluster = load_cluster("full")
    workers = cluster.group("spark_worker")
    assert [(h.name, h.address) for h in workers] == [
        ("sdp-spark-worker1", "10.232.0.51"),
        ("sdp-spark-worker2", "10.232.0.52"),
    ]
    assert workers[0].size.vcpu == 4
    assert cluster.network.gateway == "10.232.0.1/24"
    assert cluster.name == "sdp-full"


def test_the_small_profile_co_locates_roles():
    node1 = load_cluster("small").hosts[0]
    assert node1.groups == (
        "kafka_controller", "kafka_broker", "minio", "postgres", "spark_master", "spark_worker",
    )  # fmt: skip


BREAKAGES = [
    (lambda r: r["profiles"]["small"]["pools"][0].update(address=254),
     r"profiles\.small\.pools\[0\]\.address: host sdp-node2 \(host number 255\) is not in network "
     r"10\.232\.0\.0/24"),
    (lambda r: r["profiles"]["small"]["pools"][0].update(address=1),
     r"profiles\.small\.pools\[0\]\.address: must be at least 2"),
    (lambda r: r["profiles"]["small"]["pools"][0].update(count="3"),
     r"profiles\.small\.pools\[0\]\.count: must be an integer, got '3'"),
    (lambda r: r["profiles"]["small"]["pools"][0].update(size="huge"),
     r"profiles\.small\.pools\[0\]\.size: no size 'huge'"),
    (lambda r: r["profiles"]["small"]["pools"][0]["groups"].append("kafka"),
     r"profiles\.small\.pools\[0\]\.groups\[4\]: unknown group 'kafka'"),
    (lambda r: r["profiles"]["small"]["pools"][0]["vars"].update(kafka_node_id=1),
     r"profiles\.small\.pools\[0\]\.vars\.kafka_node_id: is derived from the address"),
    (lambda r: r["profiles"]["small"]["pools"][0].update(name="Node"),
     r"profiles\.small\.pools\[0\]\.name: 'Node': lower-case letters"),
    (lambda r: r["profiles"]["small"]["groups"].update(postgres=["sdp-node9"]),
     r"profiles\.small\.groups\.postgres\[0\]: no host 'sdp-node9' in this profile"),
    (lambda r: r["profiles"]["small"]["groups"].update(spark_master=["sdp-node1", "sdp-node2"]),
     r"profiles\.small: group spark_master has 2 host\(s\), needs exactly 1"),
    (lambda r: r["profiles"]["small"]["pools"][0]["vars"].update(minio_drives_per_host=1),
     r"profiles\.small: minio needs at least 4 drives in total"),
    (lambda r: r["profiles"]["full"]["pools"].append(
        {"name": "sdp-extra", "count": 1, "address": 12, "size": "small", "groups": []}),
     r"profiles\.full\.pools: sdp-extra1 and sdp-kafka2 both have 10\.232\.0\.12; pools overlap"),
    (lambda r: r["network"].update(cidr="10.232.0.0/33"),
     r"network\.cidr: '10\.232\.0\.0/33' is not an IPv4 network"),
    (lambda r: r["sizes"]["small"].update(memory=256),
     r"sizes\.small\.memory: must be at least 512, got 256"),
    (lambda r: r.pop("image"), r"image: missing"),
]  # fmt: skip


@pytest.mark.parametrize(("breakage", "message"), BREAKAGES)
def test_errors_name_the_field(raw_spec, breakage, message):
    breakage(raw_spec)
    profile = "full" if "full" in message else "small"
    with pytest.raises(SpecError, match=rf"^cluster\.yml: {message}"):
        parse_cluster(raw_spec, profile)


def test_an_unknown_profile_lists_the_known_ones(raw_spec):
    with pytest.raises(SpecError, match=r"profiles\.tiny: no such profile; have small, full"):
        parse_cluster(raw_spec, "tiny")


def test_a_pool_may_be_scaled_to_zero(raw_spec):
    _pool(raw_spec, "full", "sdp-spark-worker")["count"] = 0
    assert parse_cluster(raw_spec, "full").group("spark_worker") == []


def test_a_spec_copy_keeps_its_count_and_follows_the_spec_s_edits(raw_spec, tmp_path):
    spec = tmp_path / "cluster.yml"
    spec.write_text(yaml.safe_dump(raw_spec))
    SpecCopy(spec, "small", "sdp-worker", tmp_path / "work").workers(1)
    raw_spec["sizes"]["small"]["memory"] += 1024
    spec.write_text(yaml.safe_dump(raw_spec))
    copy = SpecCopy(spec, "small", "sdp-worker", tmp_path / "work")
    assert copy.count() == 1
    memory = yaml.safe_load(copy.spec.read_text())["sizes"]["small"]["memory"]
    assert memory == raw_spec["sizes"]["small"]["memory"]
