"""A local SparkSession for the streaming transforms (pyspark from the bundle's wheelhouse), with
the stream's catalog as real Iceberg tables kept in memory, and Kafka rows to feed them."""

import os
import sys
from datetime import UTC, datetime

import orjson
import pytest

from generator.catalog import load_catalog
from generator.simulator import Simulator

START = 1_714_532_400  # 2024-05-01 12:00 KST
KAFKA_COLUMNS = (
    "topic string, partition int, offset long, timestamp timestamp, key binary, value binary"
)
NOW = datetime(2024, 5, 1, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def spark():
    pyspark = pytest.importorskip("pyspark", reason="pyspark comes from `make artifacts`")
    from jobs.lake import CATALOG, EXTENSIONS
    from sdp.bundle import layout

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    catalog = f"spark.sql.catalog.{CATALOG}"
    session = (
        pyspark.sql.SparkSession.builder.master("local[2]")
        .appName("sdp-streaming-unit")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.jars", ",".join(str(j) for j in layout.jars("iceberg")))
        .config("spark.sql.extensions", EXTENSIONS)
        # Iceberg's in-memory catalog and file IO: the stream's MERGEs, snapshots and metadata
        # tables as on the platform, with no service (locations are only names there).
        .config(catalog, "org.apache.iceberg.spark.SparkCatalog")
        .config(f"{catalog}.catalog-impl", "org.apache.iceberg.inmemory.InMemoryCatalog")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def stream_spec():
    from jobs.streaming.config import spec_from_document
    from jobs.streaming.spec import build_spec

    return spec_from_document(build_spec())


@pytest.fixture(scope="session")
def generated():
    """A few simulated minutes of every generated topic: (topic, key, record)."""
    sim = Simulator(load_catalog(), seed=5, start=START, rate=50, speed=60)
    records = [r for _ in range(1500) for r in sim.step()]
    return records + sim.close_sessions()


def values_by_topic(records) -> dict[str, list[bytes]]:
    """Generated (topic, key, record) triples as each topic's Kafka message values, in order."""
    by_topic: dict[str, list[bytes]] = {}
    for topic, _key, record in records:
        by_topic.setdefault(topic, []).append(encode(record))
    return by_topic


def kafka_rows(spark, topic: str, values: list[bytes | None], partition: int = 0, at=NOW):
    """Rows as Spark's Kafka source gives them: offsets 0.. of one partition, stamped `at`."""
    rows = [(topic, partition, i, at, b"k", v) for i, v in enumerate(values)]
    return spark.createDataFrame(rows, KAFKA_COLUMNS)


def event(**changes) -> dict:
    base = {
        "event_id": "e1", "event_type": "purchase", "user_id": "u1", "session_id": "s1",
        "product_id": "P1", "category": "가구", "brand": None, "price": 12.5,
        "timestamp": "2024-05-01T03:59:00.123Z",
        "device": {"type": "mobile", "os": "android", "app_version": "5.1"},
        "context": {"referrer": None, "campaign": None}, "source": "generator",
    }  # fmt: skip
    base.update(changes)
    return base


def encode(record: dict) -> bytes:
    return orjson.dumps(record)
