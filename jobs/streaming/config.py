"""The streaming job's settings and the stream spec as the driver reads them (pyspark only)."""

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import types as T

CATALOG = "lake"
LAYERS = ("bronze", "silver", "gold", "ops")
DEAD_LETTER_TABLE = f"{CATALOG}.bronze.dead_letter"
BATCH_LOG_TABLE = f"{CATALOG}.ops.stream_batches"
# Snapshot properties of the stream's appends: a replayed batch finds its own commit by them.
BATCH_PROPERTY = "sdp.batch-id"
QUERY_PROPERTY = "sdp.query"
WINDOW_MINUTES = 5  # gold windows
WINDOW = f"{WINDOW_MINUTES} minutes"


class SpecError(ValueError):
    """The stream spec is missing or names something it does not define."""


@dataclass(frozen=True)
class TableLayout:
    name: str
    time: str
    partition: list[str]
    sort: list[str]
    key: list[str]
    version: str | None
    granularity: str = "day"

    def fqn(self, layer: str) -> str:
        return f"{CATALOG}.{layer}.{self.name}"

    @property
    def partitioning(self) -> list[str]:
        """The tables' partition fields as Spark SQL names them: days(timestamp), event_type."""
        return [f"{self.granularity}s({self.time})", *self.partition]


@dataclass(frozen=True)
class TopicSpec:
    topic: str
    schema: T.StructType
    rules: list[dict[str, Any]]
    table: TableLayout | None  # None: the dead-letter topic
    renamed: dict[str, str] = field(default_factory=dict)  # a field's path → its old name

    @property
    def is_dead_letter(self) -> bool:
        return self.table is None


def _topic_spec(entry: dict[str, Any]) -> TopicSpec:
    schema = T.StructType.fromJson(entry["schema"])
    table = TableLayout(**entry["table"]) if "table" in entry else None
    if table is not None:
        names = set(schema.fieldNames())
        unknown = [
            f for f in [table.time, *table.partition, *table.sort, *table.key] if f not in names
        ]
        if unknown:
            raise SpecError(f"topic {entry['topic']}: table names unknown fields {unknown}")
    return TopicSpec(entry["topic"], schema, entry["rules"], table, entry.get("renamed", {}))


def load_spec(path: Path) -> dict[str, TopicSpec]:
    """Topic name → TopicSpec, from the JSON `python -m jobs.streaming.spec` wrote."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"stream spec {path} does not exist") from None
    return spec_from_document(document)


def spec_from_document(document: dict[str, Any]) -> dict[str, TopicSpec]:
    return {e["topic"]: _topic_spec(e) for e in document["topics"]}


@dataclass(frozen=True)
class ServingSettings:
    """PostgreSQL's serving schema, where gold windows are upserted for the dashboards."""

    jdbc_url: str
    user: str
    password: str
    schema: str = "serving"

    @classmethod
    def from_env(cls, jdbc_url: str, user: str) -> "ServingSettings":
        """The password from SDP_SERVING_PASSWORD: never on a command line."""
        password = os.environ.get("SDP_SERVING_PASSWORD")
        if not password:
            raise ValueError(f"serving to {jdbc_url} needs SDP_SERVING_PASSWORD in the environment")
        return cls(jdbc_url, user, password)


def add_serving_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--serving-jdbc-url", help="jdbc:postgresql://host:port/db; omit: no serving")
    p.add_argument("--serving-user", default="serving")


def serving_settings(args: argparse.Namespace) -> ServingSettings | None:
    """From add_serving_arguments' options; ValueError when the password is missing."""
    if not args.serving_jdbc_url:
        return None
    return ServingSettings.from_env(args.serving_jdbc_url, args.serving_user)


LOGIN_MODULES = {"PLAIN": "plain.PlainLoginModule", "SCRAM-SHA-512": "scram.ScramLoginModule"}


def kafka_properties(
    bootstrap: str,
    user: str = "",
    password: str = "",
    mechanism: str = "SCRAM-SHA-512",
    truststore: str = "",
) -> dict[str, str]:
    """A Kafka Java client's settings: the brokers, a SASL login when `user` is given (the
    platform's kafka_auth) and TLS when `truststore` (the CA certificate's PEM file) is (its
    kafka_tls)."""
    properties = {
        "bootstrap.servers": bootstrap,
        "security.protocol": ("SASL_" if user else "") + ("SSL" if truststore else "PLAINTEXT"),
    }
    if truststore:
        properties |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": truststore}
    if user:
        module = f"org.apache.kafka.common.security.{LOGIN_MODULES[mechanism]}"
        properties |= {
            "sasl.mechanism": mechanism,
            "sasl.jaas.config": f'{module} required username="{user}" password="{password}";',
        }
    return properties


@dataclass(frozen=True)
class StreamSettings:
    bootstrap: str
    checkpoint: str  # s3a://bucket/prefix: offsets and commits of the query
    bucket_prefix: str = "sdp-"  # tables of layer L live in s3://<prefix>L/
    trigger_seconds: float = 5.0
    watermark_minutes: float = 10.0  # gold windows older than this behind the newest event close
    future_minutes: float = 60.0  # events further ahead of their Kafka timestamp are dead letters
    max_offsets_per_trigger: int | None = None
    starting_offsets: str = "earliest"
    query_name: str = "sdp-stream"
    topics: list[str] = field(default_factory=list)  # empty: every topic of the spec
    serving: ServingSettings | None = None
    metrics_address: str | None = None  # HOST:PORT where the driver serves its metrics
    available_now: bool = False  # process what Kafka holds now, then stop (a backfill, a test)
    kafka_user: str = ""  # SCRAM-SHA-512 login; empty: no login
    kafka_truststore: str = ""  # the CA certificate (PEM) of the brokers' TLS; empty: no TLS
    kafka_password: str = field(default="", repr=False)

    def __post_init__(self):
        for name in ("trigger_seconds", "watermark_minutes", "future_minutes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.checkpoint.startswith(("s3a://", "file:", "/")):
            raise ValueError(f"checkpoint must be an s3a:// or local path, got {self.checkpoint}")

    def location(self, layer: str, table: str) -> str:
        return table_location(self.bucket_prefix, layer, table)


def table_location(bucket_prefix: str, layer: str, table: str) -> str:
    """Tables of layer L live in s3://<prefix>L/L/ (ops tables in the warehouse bucket)."""
    bucket = f"{bucket_prefix}{'warehouse' if layer == 'ops' else layer}"
    return f"s3://{bucket}/{layer}/{table}"
