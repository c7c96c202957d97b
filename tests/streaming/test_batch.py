"""One micro-batch of the stream on real Iceberg tables (the in-memory catalog of conftest):
where each record lands, a crash and its replay, and what a batch costs in Spark jobs and
Iceberg commits — the guard that fails when a change adds work to every batch."""

from collections import Counter
from datetime import UTC, datetime

import pytest
from pyspark.sql import functions as F

from jobs.streaming.batch import BatchWriter
from jobs.streaming.config import (
    BATCH_LOG_TABLE,
    CATALOG,
    DEAD_LETTER_TABLE,
    LAYERS,
    StreamSettings,
)
from jobs.streaming.gold import EVENT_COUNTS
from jobs.streaming.main import gold_examples
from jobs.streaming.metrics import StreamMetrics
from jobs.streaming.tables import ensure_tables
from tests.streaming.conftest import encode, event, kafka_rows, values_by_topic

# Measured for the generated batch below (4 topics, 2 bad records): 75 Spark jobs, 13 commits
# (75 jobs before one job per topic summarised its rows; then 65-67 and 12 commits; +1 job
# counting dead letters by reason for the metrics, +8 jobs and +1 commit for gold.search_terms;
# 70 since the check for batches already written follows the table's current history from
# SHOW TBLPROPERTIES and one snapshots query). A change that adds a job or a commit per topic or
# per gold table goes over.
MAX_JOBS = 71
MAX_COMMITS = 13


def settings(query: str) -> StreamSettings:
    return StreamSettings(bootstrap="unused:9092", checkpoint="/unused", query_name=query)


@pytest.fixture(scope="module")
def lake(spark, stream_spec):
    ensure_tables(spark, stream_spec, settings("unit"), gold_examples(spark, stream_spec))
    return spark


def run_batch(spark, writer: BatchWriter, kafka, batch_id: int) -> int:
    """The batch as foreachBatch runs it; how many Spark jobs it started."""
    sc = spark.sparkContext
    group = f"{writer.settings.query_name}-{batch_id}"
    sc.setJobGroup(group, "one batch")
    try:
        writer(kafka, batch_id)
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    return len(sc.statusTracker().getJobIdsForGroup(group))


def snapshots(spark) -> int:
    """Snapshots of every table of the catalog: one per commit."""
    tables = [
        f"{CATALOG}.{layer}.{row.tableName}"
        for layer in LAYERS
        for row in spark.sql(f"SHOW TABLES IN {CATALOG}.{layer}").collect()
    ]
    return sum(spark.table(f"{t}.snapshots").count() for t in tables)


def gold_counts(spark) -> dict[str, int]:
    """gold.event_counts of the generated day (the other test's windows are a month later)."""
    rows = spark.table(EVENT_COUNTS.fqn).where(F.to_date("window_start") == "2024-05-01")
    return dict(rows.groupBy("event_type").agg(F.sum("events")).collect())


def test_a_batch_lands_every_record_once_within_its_jobs_and_commits(lake, stream_spec, generated):
    spark, partition = lake, 3  # this test's rows: Kafka partition 3
    by_topic = values_by_topic(generated)
    by_topic["shopping-events"] += [b"oops", encode(event(event_id="e-bad", price=-1))]
    dead_in = {t: 2 if t == "shopping-events" else 0 for t in by_topic}
    later = datetime(2024, 5, 2, tzinfo=UTC)  # every generated event is behind it
    kafka = None
    for topic, values in by_topic.items():
        rows = kafka_rows(spark, topic, values, partition, later)
        kafka = rows if kafka is None else kafka.unionByName(rows)
    metrics = StreamMetrics(trigger_seconds=5)
    writer = BatchWriter(spark, stream_spec, settings("unit-land"), serving=None, metrics=metrics)

    before = snapshots(spark)
    jobs = run_batch(spark, writer, kafka, 0)
    commits = snapshots(spark) - before

    logged = spark.table(BATCH_LOG_TABLE).where(F.col("query") == "unit-land").collect()
    assert {r.topic: (r.records, r.good, r.dead) for r in logged} == {
        t: (len(v), len(v) - dead_in[t], dead_in[t]) for t, v in by_topic.items()
    }

    def landed() -> dict[str, int]:
        return {
            t: spark.table(stream_spec[t].table.fqn("bronze"))
            .where(F.col("_kafka_partition") == partition)
            .count()
            for t in by_topic
        }

    assert landed() == {t: len(v) - dead_in[t] for t, v in by_topic.items()}
    dead = spark.table(DEAD_LETTER_TABLE).where(F.col("kafka_partition") == partition)
    assert sorted(r.reason for r in dead.collect()) == [
        "malformed JSON: not a JSON object",
        "price: -1.00 is beyond the minimum 0",
    ]
    # The driver's metrics: the same counts, dead letters by the field or check that failed.
    scraped = set(metrics.render().splitlines())
    assert {
        'sdp_stream_dead_letters_total{topic="shopping-events",reason="malformed JSON"} 1.0',
        'sdp_stream_dead_letters_total{topic="shopping-events",reason="price"} 1.0',
        f'sdp_stream_records_total{{topic="sessions"}} {float(len(by_topic["sessions"]))!r}',
    } <= scraped, scraped
    by_type = Counter(r["event_type"] for t, _, r in generated if t == "shopping-events")
    assert gold_counts(spark) == by_type

    print(f"one batch of {kafka.count()} records: {jobs} Spark jobs, {commits} commits")
    assert jobs <= MAX_JOBS
    assert commits <= MAX_COMMITS

    # The same batch again (Spark replays the last one after a restart): nothing changes.
    run_batch(spark, BatchWriter(spark, stream_spec, settings("unit-land"), None), kafka, 0)
    assert spark.table(BATCH_LOG_TABLE).where(F.col("query") == "unit-land").count() == len(
        by_topic
    )
    assert landed() == {t: len(v) - dead_in[t] for t, v in by_topic.items()}
    assert dead.count() == 2
    assert gold_counts(spark) == by_type


def test_a_crash_between_bronze_and_dead_letters_then_a_replay_lands_each_record_once(
    lake, stream_spec, monkeypatch
):
    spark, partition = lake, 7
    sent = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)  # the records' Kafka timestamp
    values = [
        encode(event(event_id="replay-good", timestamp="2024-06-01T11:59:00Z")),
        # Two hours ahead of its Kafka timestamp: a dead letter on every attempt.
        encode(event(event_id="replay-ahead", timestamp="2024-06-01T14:00:00Z")),
    ]
    kafka = kafka_rows(spark, "shopping-events", values, partition, sent)
    writer = BatchWriter(spark, stream_spec, settings("unit-replay"), serving=None)
    append_once = writer.append_once

    def killed_before_dead_letters(rows, table, batch_id):
        if table == DEAD_LETTER_TABLE:
            raise RuntimeError("killed")
        return append_once(rows, table, batch_id)

    monkeypatch.setattr(writer, "append_once", killed_before_dead_letters)
    with pytest.raises(RuntimeError, match="killed"):
        writer(kafka, 0)
    bronze = spark.table(stream_spec["shopping-events"].table.fqn("bronze")).where(
        F.col("_kafka_partition") == partition
    )
    assert [r.event_id for r in bronze.collect()] == ["replay-good"]

    # The restarted job replays batch 0: bronze has it already, the dead letter lands now.
    BatchWriter(spark, stream_spec, settings("unit-replay"), serving=None)(kafka, 0)
    assert [r.event_id for r in bronze.collect()] == ["replay-good"]
    dead = spark.table(DEAD_LETTER_TABLE).where(F.col("kafka_partition") == partition).collect()
    assert [(d.kafka_offset, d.reason) for d in dead] == [
        (1, "timestamp in the future: 2024-06-01 14:00:00")
    ]


def test_a_bronze_commit_lost_beside_silver_lands_once_on_replay(lake, stream_spec, monkeypatch):
    """Bronze commits beside silver and gold, not before them: a batch that dies with silver
    committed and bronze not lands bronze on the replay, and silver stays one row."""
    spark, partition = lake, 9
    sent = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
    value = encode(event(event_id="beside", timestamp="2024-06-03T11:59:00Z"))
    kafka = kafka_rows(spark, "shopping-events", [value], partition, sent)
    layout = stream_spec["shopping-events"].table
    writer = BatchWriter(spark, stream_spec, settings("unit-beside"), serving=None)
    append_once = writer.append_once

    def bronze_lost(rows, table, batch_id):
        if table == layout.fqn("bronze"):
            raise RuntimeError("killed")
        return append_once(rows, table, batch_id)

    monkeypatch.setattr(writer, "append_once", bronze_lost)
    with pytest.raises(RuntimeError, match="killed"):
        writer(kafka, 0)

    def ids(layer: str) -> list[str]:
        rows = spark.table(layout.fqn(layer)).where(F.col("event_id") == "beside").collect()
        return [r.event_id for r in rows]

    assert (ids("bronze"), ids("silver")) == ([], ["beside"])
    BatchWriter(spark, stream_spec, settings("unit-beside"), serving=None)(kafka, 0)
    assert (ids("bronze"), ids("silver")) == (["beside"], ["beside"])


def test_a_batch_whose_commit_was_rolled_back_lands_again_when_replayed(lake, stream_spec):
    spark, partition = lake, 8
    sent = datetime(2024, 6, 2, 12, 0, tzinfo=UTC)

    def batch(event_id: str):
        value = encode(event(event_id=event_id, timestamp="2024-06-02T11:59:00Z"))
        return kafka_rows(spark, "shopping-events", [value], partition, sent)

    table = stream_spec["shopping-events"].table.fqn("bronze")

    def bronze() -> list[str]:
        rows = spark.table(table).where(F.col("_kafka_partition") == partition).collect()
        return sorted(r.event_id for r in rows)

    BatchWriter(spark, stream_spec, settings("unit-rollback"), serving=None)(batch("kept"), 2)
    kept = spark.sql(f"SELECT snapshot_id FROM {table}.snapshots ORDER BY committed_at DESC")
    kept = kept.first()[0]
    BatchWriter(spark, stream_spec, settings("unit-rollback"), serving=None)(batch("back"), 3)
    spark.sql(f"CALL {CATALOG}.system.rollback_to_snapshot('{table}', {kept})").collect()
    assert bronze() == ["kept"]

    # Batch 3's commit is still among the table's snapshots, but no longer in its history.
    BatchWriter(spark, stream_spec, settings("unit-rollback"), serving=None)(batch("back"), 3)
    assert bronze() == ["back", "kept"]
