"""Does every Kafka record the stream processed sit exactly once in bronze or the dead-letter
table? Three independent sources: Kafka's offsets, the stream's checkpoint on MinIO (what it
committed), and the rows in the lake (pyiceberg over the same JDBC catalog Spark uses).

Per topic and partition, the processed range is [Kafka's log start, the checkpoint's committed
end offset), or from the first record Kafka received at or after `since`. Rows whose offset falls
in it are counted: missing = range size − distinct offsets landed, duplicates = rows landed −
distinct offsets. Records past the committed end are pending. The lake scan reads only the data
files whose offset bounds reach into the range, so an audit since a recent time stays cheap on a
lake holding millions of rows.
"""

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import reduce

import pyarrow as pa
import pyarrow.compute as pc

from jobs.streaming.spec import table_name
from sdp.lake.catalog import open_catalog
from sdp.platform import settings
from sdp.platform.checks import kafka_client, s3_client, s3_endpoint
from sdp.platform.inventory import Inventory
from sdp.processes import ServiceError

Offsets = dict[str, dict[int, int]]  # topic → partition → offset
KafkaRanges = dict[str, dict[int, tuple[int, int]]]  # topic → partition → (start, end)


@dataclass(frozen=True)
class StreamLocation:
    name: str
    bucket: str
    prefix: str

    @classmethod
    def from_role(cls) -> "StreamLocation":
        checkpoint = settings.role("spark", "spark_stream_checkpoint")
        bucket, _, prefix = checkpoint.removeprefix("s3a://").partition("/")
        return cls(settings.role("spark", "spark_stream_name"), bucket, prefix.rstrip("/"))

    @classmethod
    def of_query(cls, name: str) -> "StreamLocation":
        """The platform's stream's, or another query's by the role's convention: the checkpoint
        bucket, under the query's name (a second instance of the job, a backfill)."""
        if name == settings.role("spark", "spark_stream_name"):
            return cls.from_role()
        return cls(name, f"{settings.platform('sdp_bucket_prefix')}checkpoints", name)


@dataclass(frozen=True)
class Checkpoint:
    committed_batch: int | None
    committed: Offsets  # end offsets (exclusive) of the last committed batch
    in_flight: bool  # a batch is planned but not committed


@dataclass(frozen=True)
class TopicReconciliation:
    topic: str
    in_kafka: int
    processed: int
    pending: int
    bronze: int
    dead_letter: int
    missing: int
    duplicates: int

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.duplicates == 0


def kafka_offsets(
    client: dict[str, str], topics: list[str], since: datetime | None = None
) -> KafkaRanges:
    """topic → partition → (log start, end) as the brokers report them now; with `since`, the
    start is the first record whose timestamp is at or after it (the end if there is none).
    `client`: the brokers and the login (checks.kafka_client)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    bootstrap_servers = client["bootstrap.servers"]
    consumer = Consumer({**client, "group.id": "sdp-reconcile"})
    try:
        try:
            metadata = consumer.list_topics(timeout=15)
        except KafkaException as exc:
            raise ServiceError(f"Kafka at {bootstrap_servers}: {exc.args[0].str()}") from None
        found: KafkaRanges = {}
        for topic in topics:
            partitions = metadata.topics.get(topic)
            if partitions is None or partitions.error is not None:
                raise RuntimeError(f"topic {topic} is not on the brokers at {bootstrap_servers}")
            found[topic] = {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)
                for p in partitions.partitions
            }
        if since is not None:
            ms = int(since.timestamp() * 1000)
            asked = [TopicPartition(t, p, ms) for t, parts in found.items() for p in parts]
            for tp in consumer.offsets_for_times(asked, timeout=15):
                low, high = found[tp.topic][tp.partition]
                found[tp.topic][tp.partition] = (
                    max(low, tp.offset if tp.offset >= 0 else high),
                    high,
                )
        return found
    finally:
        consumer.close()


def parse_offsets_file(text: str) -> Offsets:
    """The source offsets of a Structured Streaming `offsets/N` file (one Kafka source)."""
    lines = text.strip().splitlines()
    if len(lines) < 3 or lines[0] != "v1":
        raise ValueError(f"not a streaming offsets file: {text[:80]!r}")
    source = json.loads(lines[2])
    return {t: {int(p): int(o) for p, o in parts.items()} for t, parts in source.items()}


def read_checkpoint(s3, where: StreamLocation) -> Checkpoint:
    def batches(folder: str) -> list[int]:
        paginator = s3.get_paginator("list_objects_v2")
        ids = []
        for page in paginator.paginate(Bucket=where.bucket, Prefix=f"{where.prefix}/{folder}/"):
            for obj in page.get("Contents", []):
                name = obj["Key"].rsplit("/", 1)[1]
                if name.isdigit():
                    ids.append(int(name))
        return sorted(ids)

    committed, planned = batches("commits"), batches("offsets")
    if not committed:
        return Checkpoint(None, {}, bool(planned))
    last = committed[-1]
    return Checkpoint(last, batch_end(s3, where, last), planned[-1] > last)


def batch_end(s3, where: StreamLocation, batch: int) -> Offsets:
    """Where batch `batch` of the stream ended in each partition (its offsets file); KeyError
    when the checkpoint no longer keeps it."""
    try:
        body = s3.get_object(Bucket=where.bucket, Key=f"{where.prefix}/offsets/{batch}")["Body"]
    except s3.exceptions.NoSuchKey:
        raise KeyError(f"batch {batch} is no longer in the stream's checkpoint") from None
    return parse_offsets_file(body.read().decode())


LANDED = pa.schema([("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64())])


def in_ranges(kafka: KafkaRanges, topic_col: str, offset_col: str):
    """A row filter that lets the files' offset bounds leave out the data files holding only
    records before each topic's lowest start. One term per topic: a filter per partition costs
    more to apply to the rows than it saves, and `count_in_range` is exact anyway."""
    from pyiceberg.expressions import AlwaysFalse, And, EqualTo, GreaterThanOrEqual, Or

    lowest = {t: min(low for low, _ in parts.values()) for t, parts in kafka.items() if parts}
    terms = [And(EqualTo(topic_col, t), GreaterThanOrEqual(offset_col, low))
             for t, low in lowest.items()]  # fmt: skip
    return reduce(Or, terms) if terms else AlwaysFalse()


def _landed(catalog, table: str, kafka: KafkaRanges, *cols: str) -> pa.Table:
    """Where in Kafka each row of `table` in the ranges came from (topic, partition and offset
    columns `cols`; empty if the stream has not created the table)."""
    from pyiceberg.exceptions import NoSuchTableError

    try:
        scan = catalog.load_table(table).scan(
            row_filter=in_ranges(kafka, cols[0], cols[2]), selected_fields=cols
        )
    except NoSuchTableError:
        return LANDED.empty_table()
    return scan.to_arrow().rename_columns(LANDED.names).cast(LANDED)


def count_in_range(rows: pa.Table, partition: int, low: int, end: int) -> tuple[int, int]:
    """(rows, distinct offsets) of `rows` in `partition` with low <= offset < end."""
    mask = pc.and_(
        pc.equal(rows["partition"], partition),
        pc.and_(pc.greater_equal(rows["offset"], low), pc.less(rows["offset"], end)),
    )
    offsets = rows["offset"].filter(mask)
    return len(offsets), len(pc.unique(offsets))


def committed_end(low: int, committed: dict[int, int], partition: int) -> int:
    """Where a partition's processed range ends: the checkpoint's offset, never below the start."""
    return max(low, committed.get(partition, low))


def reconcile_topic(
    topic: str,
    kafka: dict[int, tuple[int, int]],
    committed: dict[int, int],
    bronze: pa.Table,
    dead: pa.Table,
) -> TopicReconciliation:
    both = pa.concat_tables([bronze, dead])
    totals = defaultdict(int)
    for partition, (low, high) in kafka.items():
        end = committed_end(low, committed, partition)
        rows, distinct = count_in_range(both, partition, low, end)
        totals["in_kafka"] += high - low
        totals["processed"] += end - low
        totals["pending"] += high - end
        totals["bronze"] += count_in_range(bronze, partition, low, end)[0]
        totals["dead_letter"] += count_in_range(dead, partition, low, end)[0]
        totals["missing"] += (end - low) - distinct
        totals["duplicates"] += rows - distinct
    return TopicReconciliation(topic, **totals)


def positions(
    inv: Inventory, topics: list[str], since: datetime | None = None
) -> tuple[KafkaRanges, Checkpoint]:
    """Kafka's ranges and the stream's checkpoint: enough to tell how far behind it is."""
    kafka = kafka_offsets(kafka_client(inv), topics, since)
    return kafka, read_checkpoint(s3_client(inv, s3_endpoint(inv)), StreamLocation.from_role())


def pending(kafka: KafkaRanges, checkpoint: Checkpoint) -> int:
    """Records in Kafka past the last committed batch."""
    return sum(
        high - committed_end(low, checkpoint.committed.get(topic, {}), p)
        for topic, parts in kafka.items() for p, (low, high) in parts.items()
    )  # fmt: skip


def audit(inv: Inventory, kafka: KafkaRanges, checkpoint: Checkpoint) -> list[TopicReconciliation]:
    """Each topic of `kafka` against the rows in bronze and the dead-letter table."""
    catalog = open_catalog(inv)
    dead = _landed(catalog, "bronze.dead_letter", kafka,
                   "kafka_topic", "kafka_partition", "kafka_offset")  # fmt: skip
    results = []
    for topic, ranges in kafka.items():
        if topic == "dead-letter":  # lands in the dead-letter table only
            bronze = dead.slice(0, 0)
        else:
            bronze = _landed(catalog, f"bronze.{table_name(topic)}", {topic: ranges},
                             "_kafka_topic", "_kafka_partition", "_kafka_offset")  # fmt: skip
        topic_dead = dead.filter(pc.equal(dead["topic"], topic))
        results.append(
            reconcile_topic(topic, ranges, checkpoint.committed.get(topic, {}), bronze, topic_dead)
        )
    return results


def as_json(checkpoint: Checkpoint, results: list[TopicReconciliation]) -> str:
    return json.dumps(
        {
            "committed_batch": checkpoint.committed_batch,
            "in_flight": checkpoint.in_flight,
            "topics": [{**asdict(r), "ok": r.ok} for r in results],
        },
        indent=1,
    )
