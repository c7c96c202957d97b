"""The lake tables the stream writes, created from the stream spec when missing.

Bronze and silver of a topic share its schema plus ingest metadata; every column is nullable
because the stream's checks, not the table, enforce the schema (a NOT NULL nested field would
fail a whole micro-batch over one bad record). Writes sort within each task by the table's sort
order (`WRITE LOCALLY ORDERED BY`, no shuffle per micro-batch); compaction sorts globally.
"""

import logging
import re
from collections.abc import Callable

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.streaming.config import (
    BATCH_LOG_TABLE,
    CATALOG,
    DEAD_LETTER_TABLE,
    LAYERS,
    StreamSettings,
    TopicSpec,
)
from jobs.streaming.evolution import Change, Layout, plan_changes, plan_layout
from jobs.streaming.gold import GoldTable
from jobs.streaming.parse import DEAD_LETTER_SCHEMA, METADATA, RAW_VALUE, unknown_fields

log = logging.getLogger("sdp.stream")

TOPIC_LAYERS = ("bronze", "silver")  # the layers a data topic has a table in

# Each micro-batch commits: keep metadata history short and retry commits that race
# maintenance.
TABLE_PROPERTIES = {
    "format-version": "2",
    "write.distribution-mode": "none",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
    "commit.retry.num-retries": "10",
}

BATCH_LOG_SCHEMA = T.StructType(
    [
        T.StructField("query", T.StringType()),
        T.StructField("batch_id", T.LongType()),
        T.StructField("topic", T.StringType()),
        T.StructField("records", T.LongType()),
        T.StructField("good", T.LongType()),
        T.StructField("dead", T.LongType()),
        T.StructField("late", T.LongType()),
        T.StructField("watermark", T.TimestampType()),
        T.StructField("started_at", T.TimestampType()),
        T.StructField("finished_at", T.TimestampType()),
        # Where the batch's time went: classify, bronze, silver, gold (with serving), dead, log.
        T.StructField("seconds", T.MapType(T.StringType(), T.DoubleType())),
    ]
)


def nullable(data_type: T.DataType) -> T.DataType:
    """The same type with every field and element nullable, all the way down."""
    if isinstance(data_type, T.StructType):
        return T.StructType([T.StructField(f.name, nullable(f.dataType)) for f in data_type])
    if isinstance(data_type, T.ArrayType):
        return T.ArrayType(nullable(data_type.elementType))
    return data_type


def topic_columns(spec: TopicSpec) -> T.StructType:
    """Bronze and silver columns: the topic's fields (required ones not nullable), then Kafka
    and ingest metadata, then the raw value of a record with fields the schema lacks."""
    extra = [T.StructField(name, data_type) for name, (_, data_type) in METADATA.items()]
    return T.StructType([
        *spec.schema.fields, *extra, T.StructField("_ingested_at", T.TimestampType()),
        T.StructField(RAW_VALUE, T.StringType()),
    ])  # fmt: skip


def topic_table_schema(spec: TopicSpec) -> T.StructType:
    return nullable(topic_columns(spec))


def _ddl(spark: SparkSession, schema: T.StructType) -> str:
    return spark._jvm.org.apache.spark.sql.types.DataType.fromJson(schema.json()).toDDL()


def create_table(
    spark: SparkSession,
    fqn: str,
    schema: T.StructType,
    location: str,
    partition: list[str],
    sort: list[str],
) -> None:
    """CREATE TABLE with the layout (no partition: an unpartitioned table)."""
    properties = ", ".join(f"'{k}' = '{v}'" for k, v in TABLE_PROPERTIES.items())
    partitioned = f"PARTITIONED BY ({', '.join(partition)}) " if partition else ""
    spark.sql(
        f"CREATE TABLE {fqn} ({_ddl(spark, schema)}) USING iceberg "
        f"{partitioned}LOCATION '{location}' TBLPROPERTIES ({properties})"
    )
    spark.sql(f"ALTER TABLE {fqn} WRITE LOCALLY ORDERED BY {', '.join(sort)}")


def replace_rows(
    spark: SparkSession,
    fqn: str,
    rows: DataFrame,
    location: str,
    partition: list[str],
    sort: list[str],
    where: Column,
) -> None:
    """The table's rows matching `where` replaced by `rows` in one commit; the table is created
    with the layout if missing. A batch job's write: re-running it gives the same table."""
    if fqn not in table_names(spark, fqn.split(".")[1]):
        create_table(spark, fqn, nullable(rows.schema), location, partition, sort)
    rows.writeTo(fqn).overwrite(where)


def table_names(spark: SparkSession, layer: str) -> set[str]:
    """The tables of a layer's namespace, fully qualified.

    Listed once per namespace and collected (a count would be a Spark job per table: half a
    minute of a restart). SHOW TABLES, not catalog.tableExists: the latter asks the JDBC catalog
    about views too, which a catalog created without view support refuses."""
    shown = spark.sql(f"SHOW TABLES IN {CATALOG}.{layer}").collect()
    return {f"{CATALOG}.{layer}.{row.tableName}" for row in shown}


def topic_tables(spec: dict[str, TopicSpec]) -> dict[str, TopicSpec]:
    """Each data topic's bronze and silver table (fully qualified) → the topic."""
    return {t.table.fqn(layer): t for t in spec.values() if t.table for layer in TOPIC_LAYERS}


def plan_tables(
    spec: dict[str, TopicSpec], current: Callable[[str], tuple[T.StructType, Layout] | None]
) -> dict[str, list[Change]]:
    """Each topic table that exists (`current(fqn)`: its columns and layout, None if it does
    not) → the spec's changes to it, columns first; SchemaChangeRefused naming the field if one
    cannot be made. The stream plans with Spark, a deployment with pyiceberg on the control
    node."""
    planned = {}
    for fqn, topic in topic_tables(spec).items():
        table = current(fqn)
        if table is not None:  # a missing one is created from the spec as it is
            columns, was = table
            wanted = Layout(topic.table.partitioning, topic.table.sort)
            planned[fqn] = [
                *plan_changes(fqn, columns, topic_columns(topic), topic.renamed),
                *plan_layout(was, wanted, topic.renamed),
            ]
    return planned


def table_layout(spark: SparkSession, fqn: str) -> Layout:
    """The table's partition fields and write order, from its description (no Spark job)."""
    described = spark.sql(f"DESCRIBE TABLE EXTENDED {fqn}").collect()
    partition = [r.data_type for r in described if re.fullmatch(r"Part \d+", r.col_name)]
    order = spark.sql(f"SHOW TBLPROPERTIES {fqn} ('sort-order')").collect()[0].value
    # "timestamp ASC NULLS FIRST, product_id ASC NULLS FIRST"
    return Layout(partition, [term.split()[0] for term in order.split(", ")])


def evolve_tables(spark: SparkSession, spec: dict[str, TopicSpec], existing: set[str]) -> None:
    """The spec's changes to the topic tables in `existing`, all planned before the first is
    made."""

    def current(fqn: str) -> tuple[T.StructType, Layout] | None:
        return (spark.table(fqn).schema, table_layout(spark, fqn)) if fqn in existing else None

    topics = topic_tables(spec)
    for fqn, changes in plan_tables(spec, current).items():
        for change in changes:
            spark.sql(f"ALTER TABLE {fqn} {change.clause}")
            log.warning("%s changed: %s", fqn, change.what)
        fields = topics[fqn].schema.fieldNames()
        columns = sorted({c.column for c in changes if c.column in fields})
        if columns:
            filled = fill_from_raw_values(spark, fqn, topics[fqn], columns)
            log.warning("%s: %d row(s) that landed with %s in their raw value filled", fqn, filled,
                        ", ".join(columns))  # fmt: skip


def fill_from_raw_values(spark: SparkSession, fqn: str, spec: TopicSpec, columns: list[str]) -> int:
    """Rows that landed with fields the schema lacked (a producer ahead of the stream) get
    `columns` parsed from their raw value, as the stream parses a record; the raw value stays
    only where a field is still unknown. The number of rows filled."""
    text = F.col(RAW_VALUE)
    parsed = F.from_json(text, spec.schema)
    key = list(METADATA)[:3]  # the record's topic, partition and offset
    unknown = unknown_fields(spec.schema, text, F.json_object_keys(text))
    # Materialized without lineage, as gold's upserts (batch.upsert_windows): a MERGE whose
    # source reads the same Iceberg table cannot be planned in Spark 4.1.
    values = [parsed[c].alias(c) for c in columns]
    rows = (
        spark.table(fqn).where(text.isNotNull())
        .select(*key, *values, F.when(unknown, text).alias(RAW_VALUE))
        .localCheckpoint()
    )  # fmt: skip
    filled = rows.count()
    if filled:
        view = f"filled_{fqn.replace('.', '_')}"
        rows.createOrReplaceTempView(view)
        on = " AND ".join(f"t.{k} = s.{k}" for k in key)
        sets = ", ".join(f"`{c}` = s.`{c}`" for c in [*columns, RAW_VALUE])
        spark.sql(f"MERGE INTO {fqn} t USING {view} s ON {on} AND t.{RAW_VALUE} IS NOT NULL "
                  f"WHEN MATCHED THEN UPDATE SET {sets}")  # fmt: skip
        spark.catalog.dropTempView(view)
    rows.unpersist()
    return filled


def gold_schema(example: DataFrame) -> T.StructType:
    return nullable(example.schema.add("updated_at", T.TimestampType()))


def ensure_tables(
    spark: SparkSession,
    spec: dict[str, TopicSpec],
    settings: StreamSettings,
    gold: dict[GoldTable, DataFrame],
) -> list[str]:
    """Namespaces and every table of the stream; the names of those created now. Topic tables
    that exist get the spec's schema changes first (all of them planned before any is made).

    `gold` maps each gold table to an empty frame of its rows (its schema comes from the
    transform that fills it, so it is written nowhere else)."""
    existing = set()
    for layer in LAYERS:
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG}.{layer}")
        existing |= table_names(spark, layer)
    evolve_tables(spark, spec, existing)
    created = []

    def create(fqn, schema, layer, partition, sort):
        if fqn not in existing:
            create_table(spark, fqn, schema, settings.location(layer, fqn.rsplit(".", 1)[1]),
                         partition, sort)  # fmt: skip
            created.append(fqn)

    for topic in spec.values():
        if topic.table is None:
            continue
        layout = topic.table
        for layer in TOPIC_LAYERS:
            create(layout.fqn(layer), topic_table_schema(topic), layer, layout.partitioning,
                   layout.sort)  # fmt: skip
    create(DEAD_LETTER_TABLE, DEAD_LETTER_SCHEMA, "bronze", ["days(ingest_time)"],
           ["kafka_topic", "kafka_partition", "kafka_offset"])  # fmt: skip
    create(BATCH_LOG_TABLE, BATCH_LOG_SCHEMA, "ops", ["days(started_at)"], ["batch_id"])
    for table, example in gold.items():
        create(table.fqn, gold_schema(example), "gold", ["days(window_start)"],
               ["window_start", *table.key])  # fmt: skip
    return created
