"""Schema changes from the one schema source: planned from the table's and the spec's schemas,
refused naming the field, and made in place on a real Iceberg table (conftest's local catalog);
the same for the tables' layout (time partition, partition fields, write order)."""

import re
from datetime import date, datetime

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.streaming.config import StreamSettings, TableLayout, TopicSpec
from jobs.streaming.evolution import Layout, SchemaChangeRefused, plan_changes, plan_layout
from jobs.streaming.parse import RAW_VALUE, classify, good_rows
from jobs.streaming.tables import ensure_tables, nullable, plan_tables, table_layout
from tests.streaming.conftest import encode, kafka_rows


def struct(*fields: tuple[str, T.DataType, bool]) -> T.StructType:
    return T.StructType([T.StructField(n, t, nullable) for n, t, nullable in fields])


DEVICE = struct(("type", T.StringType(), True))
OLD = struct(
    ("id", T.StringType(), False),
    ("ts", T.TimestampType(), False),
    ("amount", T.DecimalType(10, 2), True),
    ("device", DEVICE, True),
    ("tags", T.ArrayType(struct(("k", T.StringType(), True))), True),
    ("cat", T.StringType(), True),
)
NEW = struct(
    ("id", T.StringType(), False),
    ("ts", T.TimestampType(), False),
    ("amount", T.DecimalType(12, 2), True),
    ("device", struct(("type", T.StringType(), True), ("screen", T.StringType(), True)), True),
    ("tags", T.ArrayType(struct(("k", T.StringType(), True), ("v", T.LongType(), True))), True),
    ("category", T.StringType(), True),
    ("coupon", T.StringType(), True),
)


def test_optional_fields_widening_and_a_declared_rename_become_schema_changes():
    changes = plan_changes("t", nullable(OLD), NEW, {"category": "cat"})
    assert [c.clause for c in changes] == [
        "ALTER COLUMN amount TYPE DECIMAL(12,2)",
        "ADD COLUMN device.screen STRING AFTER type",
        "ADD COLUMN tags.element.v BIGINT AFTER k",
        "RENAME COLUMN cat TO category",
        "ADD COLUMN coupon STRING AFTER category",
    ]
    assert plan_changes("t", nullable(NEW), NEW, {"category": "cat"}) == []


@pytest.mark.parametrize(
    ("new", "renamed", "why"),
    [
        (struct(*[(f.name, f.dataType, f.nullable) for f in OLD], ("must", T.StringType(), False)),
         {}, "must: a required field added"),
        (struct(*[(f.name, f.dataType, f.nullable) for f in OLD if f.name != "cat"]),
         {}, "cat: removed from the schema"),
        (struct(*[(f.name, T.DecimalType(10, 3) if f.name == "amount" else f.dataType, True)
                  for f in OLD]), {}, "amount: decimal(10,2) → decimal(10,3) is not a widening"),
        (struct(*[(f.name, T.LongType() if f.name == "cat" else f.dataType, True) for f in OLD]),
         {}, "cat: string → bigint is not a widening"),
    ],
)  # fmt: skip
def test_changes_iceberg_cannot_make_safely_are_refused_naming_the_field(new, renamed, why):
    with pytest.raises(SchemaChangeRefused, match=f"^t: .*{re.escape(why)}"):
        plan_changes("t", nullable(OLD), new, renamed)


def test_a_changed_time_partition_partition_field_or_sort_becomes_layout_changes():
    old = Layout(["days(ts)", "cat"], ["ts", "cat"])
    assert [
        c.clause
        for c in plan_layout(
            old, Layout(["hours(ts)", "category"], ["ts", "category"]), {"category": "cat"}
        )
    ] == ["REPLACE PARTITION FIELD days(ts) WITH hours(ts)"]  # a renamed column is the same one
    assert [c.what for c in plan_layout(old, Layout(["days(ts)", "id"], ["id", "ts"]), {})] == [
        "partition cat dropped",
        "partition id added",
        "write order ts, cat → id, ts",
    ]
    assert plan_layout(old, old, {}) == []


def topic(
    schema: T.StructType, renamed: dict[str, str] | None = None, **layout
) -> dict[str, TopicSpec]:
    table = TableLayout(**{"name": "evolving", "time": "ts", "partition": [], "sort": ["ts"],
                           "key": ["id"], "version": None, **layout})  # fmt: skip
    return {"evolving": TopicSpec("evolving", schema, [], table, renamed or {})}


def test_a_table_evolves_in_place_old_rows_read_null_and_a_refusal_changes_nothing(spark):
    settings = StreamSettings(bootstrap="unused:9092", checkpoint="/unused", query_name="evo")
    ensure_tables(spark, topic(OLD), settings, {})
    table = "lake.bronze.evolving"
    spark.sql(f"INSERT INTO {table} (id, ts, amount, device, cat) VALUES ('old', "
              "TIMESTAMP '2024-06-01 00:00:00', 1.25, named_struct('type', 'web'), "
              "'a')")  # fmt: skip
    history = [r.snapshot_id for r in spark.sql(f"SELECT * FROM {table}.snapshots").collect()]

    with pytest.raises(SchemaChangeRefused, match="must: a required field added"):
        must = T.StructType([*OLD.fields, T.StructField("must", T.StringType(), False)])
        ensure_tables(spark, topic(must), settings, {})
    assert "must" not in spark.table(table).columns

    assert ensure_tables(spark, topic(NEW, {"category": "cat"}), settings, {}) == []
    assert spark.table(table).columns[: len(NEW)] == NEW.fieldNames()  # as a new table's
    spark.sql(f"INSERT INTO {table} (id, ts, amount, device, category, coupon) VALUES ('new', "
              "TIMESTAMP '2024-06-01 00:00:01', 1234567890.25, "
              "named_struct('type', 'app', 'screen', 'big'), 'b', 'C10')")  # fmt: skip
    rows = {r.id: r for r in spark.table(table).collect()}
    old = rows["old"]
    assert (old.device.screen, old.coupon, old.category) == (None, None, "a")
    assert (rows["new"].device.screen, rows["new"].coupon, str(rows["new"].amount)) == (
        "big", "C10", "1234567890.25")  # fmt: skip
    # The same table: its snapshots from before the changes are still its history.
    kept = [r.snapshot_id for r in spark.sql(f"SELECT * FROM {table}.snapshots").collect()]
    assert kept[: len(history)] == history
    for layer in ("bronze", "silver"):
        spark.sql(f"DROP TABLE lake.{layer}.evolving")


def test_a_table_layout_changes_in_place_and_files_keep_the_spec_they_were_written_with(spark):
    settings = StreamSettings(bootstrap="unused:9092", checkpoint="/unused", query_name="evo")
    table = "lake.bronze.evolving"

    def insert(row_id: str) -> None:
        spark.sql(f"INSERT INTO {table} (id, ts, cat) VALUES "
                  f"('{row_id}', TIMESTAMP '2024-06-01 10:30:00', 'a')")  # fmt: skip

    ensure_tables(spark, topic(OLD), settings, {})
    insert("before")
    hot = {"granularity": "hour", "partition": ["cat"], "sort": ["cat", "ts"]}
    ensure_tables(spark, topic(OLD, **hot), settings, {})
    assert table_layout(spark, table) == Layout(["hours(ts)", "cat"], ["cat", "ts"])
    insert("after")

    def current(fqn):
        return spark.table(fqn).schema, table_layout(spark, fqn)

    assert plan_tables(topic(OLD, **hot), current) == {table: [], "lake.silver.evolving": []}
    files = spark.sql(f"SELECT spec_id, partition FROM {table}.files ORDER BY spec_id").collect()
    assert [f.partition.asDict() for f in files] == [
        {"ts_day": date(2024, 6, 1), "ts_hour": None, "cat": None},
        {"ts_day": None, "ts_hour": 477010, "cat": "a"},  # 2024-06-01 10:00 in epoch hours
    ]
    assert sorted(r.id for r in spark.table(table).where("ts >= '2024-06-01 10:00'").collect()) == [
        "after", "before"]  # fmt: skip
    for layer in ("bronze", "silver"):
        spark.sql(f"DROP TABLE lake.{layer}.evolving")


def test_rows_that_landed_with_fields_the_schema_lacked_get_them_when_it_has_them(spark):
    """A producer ahead of the stream: its records land with their raw value; the stream started
    with the schema that has the fields fills them in."""
    settings = StreamSettings(bootstrap="unused:9092", checkpoint="/unused", query_name="evo")
    table = "lake.bronze.evolving"
    ensure_tables(spark, topic(OLD), settings, {})
    ahead = [{"id": "a", "ts": "2024-06-01T00:00:00Z", "coupon": "C10"},
             {"id": "b", "ts": "2024-06-01T00:00:01Z", "device": {"type": "app", "screen": "big"}},
             {"id": "c", "ts": "2024-06-01T00:00:02Z", "later": 1},
             {"id": "d", "ts": "2024-06-01T00:00:03Z"}]  # fmt: skip
    kafka = kafka_rows(spark, "evolving", [encode(r) for r in ahead], at=datetime(2024, 6, 2))
    spec = topic(OLD)["evolving"]
    good_rows(classify(kafka, spec, 60), spec, F.current_timestamp()).writeTo(table).append()
    raw = {r.id: r[RAW_VALUE] for r in spark.table(table).collect()}
    assert raw == {r["id"]: (encode(r).decode() if r["id"] != "d" else None) for r in ahead}

    ensure_tables(spark, topic(NEW, {"category": "cat"}), settings, {})
    rows = {r.id: r for r in spark.table(table).collect()}
    assert (rows["a"].coupon, rows["b"].device.screen, rows["b"].device.type) == (
        "C10",
        "big",
        "app",
    )
    assert {i: r[RAW_VALUE] is not None for i, r in rows.items()} == {
        "a": False,
        "b": False,
        "c": True,
        "d": False,
    }  # "later" is still unknown
    for layer in ("bronze", "silver"):
        spark.sql(f"DROP TABLE lake.{layer}.evolving")
