"""Against the platform's brokers (`make up`): everything produced is consumed, per-key order kept.

The brokers are shared with the running stream and create no topic on first use, so each run
sends to its own copies of the spec's topics (a uuid prefix; the stream reads only the spec's
names), made here with the spec's partitions and configs and deleted at the end.
"""

import time
import uuid
from collections import defaultdict

import orjson
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from generator.catalog import load_catalog
from generator.generate import Limits, run_generate
from generator.olist_replay import Pacing, ReplayState, build_plan, read_tables, replay
from generator.producing import KafkaSink
from generator.rees46_import import import_rees46
from generator.simulator import Simulator
from generator.topics import topic

pytestmark = pytest.mark.integration
START = 1_714_532_400


class PrefixedSink(KafkaSink):
    """Sends each spec topic's records to PREFIX + the topic: this run's own topics."""

    def __init__(self, client: dict[str, str], prefix: str) -> None:
        super().__init__(client)
        self.prefix = prefix

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        super().send(self.prefix + topic, key, value)


@pytest.fixture(scope="module")
def prefix(kafka_client):
    """This run's topic prefix; its topics are deleted when the module's tests are done."""
    run = f"test-{uuid.uuid4().hex[:8]}."
    yield run
    admin = AdminClient(kafka_client)
    made = [t for t in admin.list_topics(timeout=10).topics if t.startswith(run)]
    for future in admin.delete_topics(made).values() if made else ():
        future.result(30)


def ensure_topics(client: dict[str, str], names, prefix: str) -> None:
    """PREFIX + each name, with the spec's partitions and configs and the brokers' default
    replication, unless there already."""
    admin = AdminClient(client)
    existing = admin.list_topics(timeout=10).topics
    new = [
        NewTopic(prefix + n, topic(n).partitions, config=topic(n).config)
        for n in names
        if prefix + n not in existing
    ]
    for future in admin.create_topics(new).values() if new else ():
        future.result(30)
    deadline = time.monotonic() + 30
    while True:  # a broker learns of a new topic, and its partitions of a leader, a moment later
        metadata = admin.list_topics(timeout=10).topics
        partitions = [
            p
            for n in names
            if prefix + n in metadata
            for p in metadata[prefix + n].partitions.values()
        ]
        if len(partitions) == sum(topic(n).partitions for n in names) and all(
            p.leader >= 0 and p.error is None for p in partitions
        ):
            return
        assert time.monotonic() < deadline, (
            f"topics {names} were not all listed with leaders within 30s"
        )
        time.sleep(0.2)


def end_offsets(client: dict[str, str], names, prefix: str) -> dict[tuple[str, int], int]:
    consumer = Consumer({**client, "group.id": "sdp-tests-offsets"})
    deadline = time.monotonic() + 30
    try:
        out = {}
        for name in names:
            for p in range(topic(name).partitions):
                while (prefix + name, p) not in out:
                    try:
                        out[prefix + name, p] = consumer.get_watermark_offsets(
                            TopicPartition(prefix + name, p), timeout=10
                        )[1]
                    except (
                        KafkaException
                    ) as e:  # a just-created partition's leader is still starting
                        if (
                            e.args[0].code() != KafkaError.NOT_LEADER_FOR_PARTITION
                            or time.monotonic() > deadline
                        ):
                            raise
                        time.sleep(0.2)
        return out
    finally:
        consumer.close()


def consume(
    client: dict[str, str], start: dict[tuple[str, int], int], expected: int, timeout_s: float = 60
):
    """Every message after `start`, in partition order; waits until `expected` arrived."""
    consumer = Consumer(
        {
            **client,
            "group.id": "sdp-tests",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.assign([TopicPartition(t, p, offset) for (t, p), offset in start.items()])
    messages, deadline = [], time.monotonic() + timeout_s
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            for m in consumer.consume(10_000, timeout=1):
                assert m.error() is None, m.error()
                messages.append(m)
        # Anything beyond `expected` would be a duplicate: give it a moment to show up.
        messages += [m for m in consumer.consume(10_000, timeout=2) if m.error() is None]
    finally:
        consumer.close()
    return messages


def test_generated_events_all_arrive_in_per_key_order(kafka_client, prefix):
    names = ["shopping-events", "search-queries", "sessions", "reviews"]
    ensure_topics(kafka_client, names, prefix)
    start = end_offsets(kafka_client, names, prefix)
    sink = PrefixedSink(kafka_client, prefix)
    sim = Simulator(load_catalog(), seed=21, start=START, rate=100, speed=60)
    run_generate(sim, sink, Limits(count=20_000, pace=False))
    sink.close()
    assert sink.errors == 0
    sent = sum(sink.sent.values())

    messages = consume(kafka_client, start, sent)
    assert len(messages) == sent, "nothing lost, nothing duplicated"
    by_topic = defaultdict(int)
    per_key = defaultdict(list)
    for m in messages:
        by_topic[m.topic()] += 1
        if m.topic() == prefix + "shopping-events":
            per_key[m.key()].append(orjson.loads(m.value())["event_id"])
    assert dict(by_topic) == dict(sink.sent)

    # The same seed regenerates the stream: each user's events must arrive in generation order.
    again = Simulator(load_catalog(), seed=21, start=START, rate=100, speed=60)
    expected = defaultdict(list)
    for _ in range(20_000):
        for name, key, record in again.step():
            if name == "shopping-events":
                expected[key].append(record["event_id"])
    assert per_key == expected


def test_olist_replay_arrives_complete_and_in_order(kafka_client, prefix, fixtures, tmp_path):
    tables, dead = read_tables(fixtures / "olist")
    plan = build_plan(tables, dead)
    names = sorted({f"olist.{e.table}" for e in plan})
    ensure_topics(kafka_client, names, prefix)
    start = end_offsets(kafka_client, names, prefix)
    sink = PrefixedSink(kafka_client, prefix)
    replay(
        plan,
        sink,
        ReplayState(tmp_path / "state.json", "fixture"),
        Pacing(0, 0),
        checkpoint_every=100,
    )
    sink.close()
    messages = consume(kafka_client, start, len(plan))
    assert len(messages) == len(plan)
    seqs = defaultdict(list)
    for m in messages:
        seqs[m.topic(), m.key()].append(orjson.loads(m.value())["_seq"])
    assert all(s == sorted(s) for s in seqs.values()), "one key's changes in replay order"
    assert sorted(s for ss in seqs.values() for s in ss) == list(range(len(plan)))


def test_rees46_import_arrives_complete(kafka_client, prefix, fixtures):
    # The topic may hold the first test's events already: only what comes after counts.
    ensure_topics(kafka_client, ["shopping-events"], prefix)
    start = end_offsets(kafka_client, ["shopping-events"], prefix)
    sink = PrefixedSink(kafka_client, prefix)
    assert import_rees46(fixtures / "rees46" / "2019-Oct-slice.csv", sink) == 40
    sink.close()
    messages = consume(kafka_client, start, 40)
    assert len(messages) == 40
    assert {orjson.loads(m.value())["source"] for m in messages} == {"rees46"}
