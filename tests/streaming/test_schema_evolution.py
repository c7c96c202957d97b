"""Schema evolution on the platform, from a copy of the schema source (SDP_SCHEMA_DIR) with a
topic of this run's own: its tables are created by the streaming job, then changed in place by
the job started with the changed schema (a second instance of the job on the master, on this
topic only, processing what Kafka holds and stopping). The running stream is only ever asked to
deploy a refused change, which must leave it as it was."""

import json
import os
import re
import shlex
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import yaml

from generator.schemas import SCHEMA_DIR
from sdp.platform import settings
from sdp.platform.checks import (
    kafka_bootstrap,
    kafka_client,
    s3_client,
    s3_endpoint,
    stream_application,
)
from sdp.platform.inventory import LOCAL_INVENTORY
from sdp.platform.jobs import job_error, spark_submit
from tests.conftest import needs_container_hosts, sdp
from tests.streaming.test_stream_e2e import produce

pytestmark = [pytest.mark.integration, needs_container_hosts]

RUN = uuid.uuid4().hex[:8]
TOPIC, TABLE = f"evolution-{RUN}", f"evolution_{RUN}"
SPEC_ON_MASTER = f"/tmp/sdp-{TOPIC}.json"
INVENTORY = str(LOCAL_INVENTORY)
CHECKPOINT = f"checkpoints/{TOPIC}"  # in the platform's checkpoint bucket
OLD = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["event_id", "timestamp"],
    "properties": {
        "event_id": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "amount": {"type": ["number", "null"], "x-decimal": [10, 2]},
        "device": {"type": ["object", "null"], "properties": {"type": {"type": "string"}}},
    },
}


def changed(schema: dict, **properties) -> dict:
    new = json.loads(json.dumps(schema))
    new["properties"].update(properties)
    return new


# An optional nested field, a decimal widened, an optional top-level field.
NEW = changed(
    OLD,
    amount={"type": ["number", "null"], "x-decimal": [12, 2]},
    device={"type": ["object", "null"], "properties": {
        "type": {"type": "string"}, "screen": {"type": ["string", "null"]}}},
    coupon={"type": ["string", "null"]},
)  # fmt: skip
REQUIRED = {**changed(NEW, tier={"type": "string"}), "required": ["event_id", "timestamp", "tier"]}


def schema_source(tmp_path: Path, schema: dict, **layout) -> Path:
    """The project's schema source plus this run's topic with `schema` (and `layout` over its
    table's)."""
    source = tmp_path / f"schemas-{uuid.uuid4().hex[:6]}"
    source.mkdir()
    for f in SCHEMA_DIR.iterdir():
        if f.is_file():
            (source / f.name).write_bytes(f.read_bytes())
    (source / f"{TOPIC}.schema.json").write_text(json.dumps(schema))
    topics = yaml.safe_load((source / "topics.yml").read_text())
    topics["topics"].append({
        "name": TOPIC, "schema": f"{TOPIC}.schema.json", "key": "event_id", "partitions": 1,
        "config": {"retention.ms": 3600000},
        "table": {"time": "timestamp", "sort": ["timestamp"], "key": ["event_id"], **layout},
    })  # fmt: skip
    (source / "topics.yml").write_text(yaml.safe_dump(topics, allow_unicode=True))
    return source


def with_source(source: Path) -> dict[str, str]:
    return {**os.environ, "SDP_SCHEMA_DIR": str(source)}


def on_master(inv, command: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    master = inv.first("spark_master")
    return subprocess.run(inv.ssh(master, command), input=stdin, capture_output=True, text=True,
                          timeout=900)  # fmt: skip


def land(inv, source: Path) -> None:
    """The streaming job, spec'd from `source`, on this run's topic until Kafka's end."""
    spec = subprocess.run([sys.executable, "-m", "jobs.streaming.spec"], env=with_source(source),
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    put = on_master(inv, f"cat > {SPEC_ON_MASTER} && chmod 644 {SPEC_ON_MASTER}", stdin=spec)
    assert put.returncode == 0, put.stderr
    prefix = settings.platform("sdp_bucket_prefix")
    login = kafka_client(inv, "stream").get("sasl.username", "")
    job = spark_submit("jobs/streaming/main.py", TOPIC, [
        "--spec", SPEC_ON_MASTER, "--bootstrap", kafka_bootstrap(inv), "--kafka-user", login,
        "--kafka-truststore", settings.platform("sdp_ca_file") if inv.var("kafka_tls") else "",
        "--checkpoint", f"s3a://{prefix}{CHECKPOINT}", "--bucket-prefix", prefix,
        "--query-name", TOPIC, "--topics", TOPIC, "--available-now",
    ])  # fmt: skip
    user = settings.role("spark", "spark_user")
    # The stream's own login and password (its environment file, root's): runuser keeps them.
    env = f"{settings.role('spark', 'spark_stream_conf_dir')}/stream.env"
    ran = on_master(inv, f"cd /tmp && set -a && . {env} && set +a && runuser -u {user} -- {job}")
    assert ran.returncode == 0, job_error((ran.stdout + ran.stderr).splitlines())


def events(first: int, count: int, **extra) -> list[dict]:
    when = datetime.now(UTC) - timedelta(hours=2)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return [{"event_id": f"{RUN}-{i}", "timestamp": (when + timedelta(seconds=i)).strftime(stamp),
             "amount": 1234.5 + i, "device": {"type": "web", **extra.get("device", {})},
             **{k: v for k, v in extra.items() if k != "device"}}
            for i in range(first, first + count)]  # fmt: skip


def stream_may_read(inv) -> list[tuple]:
    """The ACLs (AclBinding's fields) that let the stream's login read this run's topic; none
    without kafka_auth."""
    from confluent_kafka.admin import (
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    login = kafka_client(inv, "stream").get("sasl.username")
    return [
        (ResourceType.TOPIC, TOPIC, ResourcePatternType.LITERAL, f"User:{login}", "*",
         operation, AclPermissionType.ALLOW)
        for operation in (AclOperation.READ, AclOperation.DESCRIBE)
    ] if login else []  # fmt: skip


@pytest.fixture
def topic(platform, lake):
    from confluent_kafka.admin import AclBinding, AclBindingFilter, AdminClient, NewTopic

    admin = AdminClient(kafka_client(platform))
    admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(30)
    readable = stream_may_read(platform)
    if readable:
        for future in admin.create_acls([AclBinding(*a) for a in readable]).values():
            future.result(30)
    yield TOPIC
    if readable:
        for future in admin.delete_acls([AclBindingFilter(*a) for a in readable]).values():
            future.result(30)
    for layer in ("bronze", "silver"):
        if lake.table_exists(f"{layer}.{TABLE}"):
            lake.purge_table(f"{layer}.{TABLE}")
    admin.delete_topics([TOPIC])[TOPIC].result(30)
    s3 = s3_client(platform, s3_endpoint(platform))
    bucket = f"{settings.platform('sdp_bucket_prefix')}checkpoints"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{TOPIC}/").get("Contents", [])
    for obj in listed:
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    on_master(platform, f"rm -f {shlex.quote(SPEC_ON_MASTER)}")


def send(inv, records: list[dict]) -> list[tuple]:
    return produce(inv, [(TOPIC, r["event_id"].encode(), orjson.dumps(r)) for r in records])


def test_a_topic_schema_change_reaches_its_tables_in_place_and_a_refused_one_is_not_deployed(
    platform, lake, topic, tmp_path
):
    offsets = send(platform, events(0, 30))
    # A producer ahead of the stream: its new fields land in the raw value.
    offsets += send(platform, events(30, 10, device={"screen": "early"}, coupon="EARLY"))
    land(platform, schema_source(tmp_path, OLD))
    created = {}
    for layer in ("bronze", "silver"):
        table = lake.load_table(f"{layer}.{TABLE}")
        created[layer] = table.metadata.table_uuid
        ahead = table.scan(row_filter="_raw_value IS NOT NULL").to_arrow()["event_id"]
        assert sorted(ahead.to_pylist()) == sorted(f"{RUN}-{i}" for i in range(30, 40))
        assert table.scan().to_arrow().num_rows == 40
    first_run = lake.load_table(f"bronze.{TABLE}").current_snapshot().snapshot_id

    # A required field added: the deployment stops before it changes anything.
    app = stream_application(platform)
    refused = sdp("stream", "start", "-i", INVENTORY,
                  env=with_source(schema_source(tmp_path, REQUIRED)))  # fmt: skip
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert f"lake.bronze.{TABLE}: tier: a required field added" in said, said[-3000:]
    assert stream_application(platform)["id"] == app["id"]

    # The columns and, for a hot topic, the time partition by the hour.
    source = schema_source(tmp_path, NEW, granularity="hour")
    planned = sdp("stream", "schema-changes", "-i", INVENTORY, env=with_source(source))
    assert planned.stdout.splitlines() == [
        f"{layer}.{TABLE}: {what}" for layer in ("bronze", "silver") for what in (
            "amount: decimal(10,2) → decimal(12,2)", "device.screen added (string)",
            "coupon added (string)", "partition days(timestamp) → hours(timestamp)")
    ], planned.stdout + planned.stderr  # fmt: skip

    new = events(40, 30, device={"screen": "large"}, coupon="SALE10", amount=1234567890.12)
    offsets += send(platform, new)
    land(platform, source)
    for layer in ("bronze", "silver"):
        table = lake.load_table(f"{layer}.{TABLE}")
        assert table.metadata.table_uuid == created[layer]  # changed in place, not recreated
        rows = {r["event_id"]: r for r in table.scan().to_arrow().to_pylist()}
        assert len(rows) == 70
        assert (rows[f"{RUN}-0"]["coupon"], rows[f"{RUN}-0"]["device"]["screen"]) == (None, None)
        assert rows[f"{RUN}-0"]["amount"] == Decimal("1234.50")
        early = rows[f"{RUN}-30"]  # filled in from its raw value
        assert (early["coupon"], early["device"]["screen"], early["_raw_value"]) == (
            "EARLY", "early", None)  # fmt: skip
        last = rows[f"{RUN}-69"]
        assert (last["coupon"], last["device"]["screen"]) == ("SALE10", "large")
        assert last["amount"] == Decimal("1234567890.12")
        assert [str(f.transform) for f in table.spec().fields] == ["hour"]
    again = sdp("stream", "schema-changes", "-i", INVENTORY, env=with_source(source))
    assert (again.returncode, again.stdout) == (0, "no changes\n"), again.stdout + again.stderr
    landed = lake.load_table(f"bronze.{TABLE}").scan(selected_fields=("_kafka_offset",))
    assert sorted(landed.to_arrow()["_kafka_offset"].to_pylist()) == sorted(o[2] for o in offsets)
    assert sdp("stream", "status", "-i", INVENTORY).returncode == 0

    # Back to before the second run (its job has stopped): the lake lacks exactly its records.
    def rollback(snapshot_id: int) -> subprocess.CompletedProcess:
        moved = sdp("lake", "rollback", f"bronze.{TABLE}", "-i", INVENTORY,
                    "--snapshot", str(snapshot_id), env=with_source(source))  # fmt: skip
        assert moved.returncode == 0, moved.stdout[-3000:] + moved.stderr[-3000:]
        return moved

    bronze = lake.load_table(f"bronze.{TABLE}")
    second = bronze.current_snapshot()
    back = rollback(first_run)
    assert "rows 70 → 40" in back.stderr
    assert re.search(rf"over {TOPIC}'s batches \d+–\d+: 30 record\(s\) missing", back.stderr)
    bronze.refresh()
    assert bronze.scan().to_arrow().num_rows == 40
    forward = rollback(second.snapshot_id)
    assert "rows 40 → 70" in forward.stderr
    assert re.search(rf"over {TOPIC}'s batches \d+–\d+: 0 record\(s\) missing", forward.stderr)
