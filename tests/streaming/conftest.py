"""Generated records and Kafka rows to feed the streaming transforms (on the local SparkSession
and stream spec of tests/conftest.py)."""

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
