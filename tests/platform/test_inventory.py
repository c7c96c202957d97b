"""The inventory is the one topology source: groups, addresses, container-host specs."""

import os
import shutil

import pytest

from sdp.hosts.nspawn import parse_spec, spec_from_inventory
from sdp.platform import settings
from sdp.platform.inventory import (
    LOCAL_INVENTORY,
    InventoryError,
    load_inventory,
    parse_listing,
)
from sdp.processes import ServiceError
from tests.conftest import sdp
from tests.generator.conftest import FIXTURES

LISTING = {
    "_meta": {
        "hostvars": {
            "a": {"ansible_host": "10.231.0.21", "sdp_cluster_name": "t"},
            "b": {"ansible_host": "10.231.0.22", "sdp_cluster_name": "t"},
        }
    },
    "all": {"children": ["ungrouped", "kafka"]},
    "kafka": {"children": ["kafka_broker"]},
    "kafka_broker": {"hosts": ["a", "b"]},
}


def test_groups_include_their_children():
    inv = parse_listing(LISTING, None)
    assert inv.hosts("kafka") == ["a", "b"]
    assert inv.addresses("kafka_broker") == ["10.231.0.21", "10.231.0.22"]
    assert inv.cluster_name == "t"
    assert inv.container_hosts


def test_a_platform_setting_is_the_inventorys_or_the_roles_default():
    inv = parse_listing(LISTING, None)
    assert inv.var("sdp_status_patience") == settings.platform("sdp_status_patience") == 0
    LISTING_DISAGREEING = {**LISTING, "_meta": {"hostvars": {
        "a": {"sdp_status_patience": 900}, "b": {"sdp_status_patience": 60}}}}  # fmt: skip
    with pytest.raises(InventoryError, match="hosts disagree on sdp_status_patience"):
        parse_listing(LISTING_DISAGREEING, None).var("sdp_status_patience")


def test_hosts_spec_comes_from_the_inventory():
    spec = parse_spec(spec_from_inventory(parse_listing(LISTING, None)))
    assert [(h.name, h.address) for h in spec.hosts] == [("a", "10.231.0.21"), ("b", "10.231.0.22")]
    assert spec.bridge == "sdpbr0"


def test_local_hosts_are_not_container_hosts():
    listing = {"_meta": {"hostvars": {"localhost": {"ansible_connection": "local"}}}}
    inv = parse_listing(listing, None)
    assert not inv.container_hosts
    with pytest.raises(ServiceError, match="no host has an ansible_host"):
        spec_from_inventory(inv)


def test_the_local_inventory_puts_every_role_on_one_host():
    inv = load_inventory(LOCAL_INVENTORY)
    for group in ("kafka_controller", "kafka_broker", "minio", "postgres", "spark_master",
                  "spark_worker"):  # fmt: skip
        assert inv.hosts(group) == ["sdp-local"], group


def test_the_local_worker_runs_the_stream_and_two_jobs_beside_it():
    """A scheduled run (lake_maintenance, every 6 h) and one more job (a triggered DAG run, a
    test's probe) each get spark.deploy.defaultCores beside the stream: with every free core
    taken by the first, the second waited and a test failed (CI, 2026-12-06 18:00)."""
    local = load_inventory(LOCAL_INVENTORY).hostvars["sdp-local"]
    per_job = local["spark_extra_defaults"]["spark.deploy.defaultCores"]
    stream = local.get("spark_stream_cores", settings.role("spark", "spark_stream_cores"))
    assert local["spark_worker_cores"] >= stream + 2 * per_job


def test_control_node_reads_ports_and_databases_from_the_roles():
    assert settings.platform("kafka_broker_port") == 9092
    names = [db["name"] for db in settings.role("postgres", "postgres_databases")]
    assert names == ["iceberg_catalog", "airflow", "serving", "superset"]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "no such inventory file or directory"),
        ("all:\n  hosts:\n", "no hosts"),
        ("all: [\n", "YAML parsing failed"),
    ],
)
def test_a_wrong_inventory_is_one_line_naming_the_file(tmp_path, content, said):
    path = tmp_path / "hosts.yml"
    if content is not None:
        path.write_text(content)
    result = sdp("platform", "status", "-i", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {path}: ") and said in result.stderr, result.stderr


def test_a_missing_secret_is_one_line_naming_it_its_file_and_what_makes_it(tmp_path):
    result = sdp("lake", "snapshots", "bronze.shopping_events", "-i", str(LOCAL_INVENTORY),
                 env={**os.environ, "SDP_SECRETS_DIR": str(tmp_path)})  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: secret postgres-iceberg of cluster local: {tmp_path}/postgres-iceberg is missing; "
        "the roles generate it on the first `make up` (or set SDP_SECRETS_DIR to where it is kept)"
    ]


@pytest.mark.parametrize(
    ("groups", "command", "said"),
    [
        ("kafka_broker", ["stream", "reconcile"],
         "Kafka at 127.0.0.9:9092: Failed to get metadata: Local: Broker transport failure"),
        ("postgres,minio", ["lake", "snapshots", "bronze.shopping_events"],
         'PostgreSQL: connection to server at "127.0.0.9", port 5432 failed: Connection refused'),
        ("minio", ["report", "get", "2024-05-01"],
         'MinIO (S3): Could not connect to the endpoint URL: "http://127.0.0.9:9000/'),
    ],
)  # fmt: skip
def test_a_service_that_does_not_answer_is_one_line_naming_it(tmp_path, groups, command, said):
    inventory = tmp_path / "hosts.yml"  # a loopback address where nothing listens
    inventory.write_text(
        "all:\n  hosts:\n    far: {ansible_host: 127.0.0.9}\n"
        "  children:\n"
        + "".join(f"    {group}: {{hosts: {{far: {{}}}}}}\n" for group in groups.split(","))
    )
    for secret in ("postgres-iceberg", "minio-spark-secret-key", "kafka-admin-password"):
        (tmp_path / secret).write_text("not-the-real-one\n")
    shutil.copytree(FIXTURES / "tls", tmp_path / "tls")  # a CA certificate, for Kafka's TLS
    result = sdp(
        *command, "-i", str(inventory), env={**os.environ, "SDP_SECRETS_DIR": str(tmp_path)}
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr  # librdkafka's log lines may come before
    assert result.stderr.splitlines()[-1].startswith(f"error: {said}"), result.stderr


def test_a_group_the_command_needs_and_the_inventory_lacks_is_named(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    far: {ansible_host: 127.0.0.9}\n")
    result = sdp("report", "get", "2024-05-01", "-i", str(inventory))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: {inventory}: no host in the group minio"]
