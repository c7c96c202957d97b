"""Kafka records → typed rows or dead letters with a reason: pure DataFrame transforms.

Every record ends up in exactly one of the two, so `in = good + dead-letter` holds per topic.
Checks run in Spark SQL (no Python UDFs: executors need no Python packages and rows never leave
the JVM). The reasons, in order: empty message, invalid UTF-8, malformed JSON (not a JSON
object), then every rule the schema states for a top-level field — required, null, type, enum,
bounds, minLength — and event times further ahead of the clock than the tolerance.
"""

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.streaming.config import TopicSpec

CORRUPT = "_corrupt_record"
REASON = "_reason"
# The record's JSON text where it has a field the schema lacks (a producer ahead of the
# stream's schema), null otherwise: the field's value is kept, not dropped by the parse.
RAW_VALUE = "_raw_value"
# Ingest metadata every bronze row carries. Not `_partition`: Iceberg reserves it; not
# `_ingest_time`: CDC records carry their own.
# Column → (Kafka source column, type).
METADATA = {
    "_kafka_topic": ("topic", T.StringType()),
    "_kafka_partition": ("partition", T.IntegerType()),
    "_kafka_offset": ("offset", T.LongType()),
    "_kafka_timestamp": ("timestamp", T.TimestampType()),
}
DEAD_LETTER_SCHEMA = T.StructType(
    [
        T.StructField("kafka_topic", T.StringType()),
        T.StructField("kafka_partition", T.IntegerType()),
        T.StructField("kafka_offset", T.LongType()),
        T.StructField("kafka_timestamp", T.TimestampType()),
        T.StructField("key", T.BinaryType()),
        T.StructField("value", T.BinaryType()),
        T.StructField("reason", T.StringType()),
        # stream: this job rejected it; source: a producer did (the dead-letter topic)
        T.StructField("stage", T.StringType()),
        T.StructField("intended_topic", T.StringType()),
        T.StructField("source", T.StringType()),
        T.StructField("ingest_time", T.TimestampType()),
    ]
)


OBJECT = T.MapType(T.StringType(), T.StringType())  # a JSON object: its keys, values as text


def _unknown_keys(keys: Column, known: T.StructType) -> Column:
    """True where an object's keys (null: no such object) include one `known` lacks."""
    return F.exists(keys, lambda k: ~k.isin(known.fieldNames()))


def _nested(schema: T.StructType) -> list[tuple[str, T.StructType, bool]]:
    """The fields holding an object or an array of objects (True): name, the objects' schema."""
    nested = []
    for f in schema:
        if isinstance(f.dataType, T.StructType):
            nested.append((f.name, f.dataType, False))
        elif isinstance(f.dataType, T.ArrayType) and isinstance(
            f.dataType.elementType, T.StructType
        ):
            nested.append((f.name, f.dataType.elementType, True))
    return nested


def _unknown_object(schema: T.StructType):
    """Is an object (a map of its fields' texts) one with a field `schema` lacks, also deeper?"""

    def unknown(obj: Column) -> Column:
        return _unknown_keys(F.map_keys(obj), schema) | _unknown_under(
            schema,
            lambda name, many: F.from_json(obj[name], T.ArrayType(OBJECT) if many else OBJECT),
        )

    return unknown


def _unknown_under(schema: T.StructType, objects: Callable[[str, bool], Column]) -> Column:
    """Do the objects in an object's fields (`objects(name, many)`: that field's object, or
    array of objects, as maps) have a field the schema lacks?"""
    found = F.lit(False)
    for name, element, many in _nested(schema):
        unknown = _unknown_object(element)
        found = found | (
            F.exists(objects(name, many), unknown) if many else unknown(objects(name, many))
        )
    return found


def unknown_fields(schema: T.StructType, text: Column, keys: Column) -> Column:
    """True where the record has a field the schema lacks, at the top or in its objects (in
    arrays too). The objects are read as texts in one more pass over the record (a tenth more
    time to classify shopping events)."""
    nested = _nested(schema)
    if not nested:
        return _unknown_keys(keys, schema)
    shape = T.StructType([T.StructField(name, T.ArrayType(OBJECT) if many else OBJECT)
                          for name, _, many in nested])  # fmt: skip
    values = F.from_json(text, shape)
    found = _unknown_keys(keys, schema) | _unknown_under(schema, lambda name, _: values[name])
    return F.coalesce(found, F.lit(False))


def _quoted(values) -> str:
    return ", ".join(str(v) for v in values)


def _rule_checks(spec: TopicSpec, record: Column, keys: Column, text: Column) -> list[Column]:
    """One nullable message per broken rule; null where the record keeps it."""
    corrupt = record[CORRUPT]
    required = [r["field"] for r in spec.rules if r["required"]]
    missing = F.array_except(F.array(*[F.lit(f) for f in required]), keys)
    checks = [
        F.when(
            F.size(missing) > 0,
            F.concat(F.lit("missing required fields: "), F.array_join(missing, ", ")),
        )
    ]
    for rule in spec.rules:
        name, value = rule["field"], record[rule["field"]]
        given = F.get_json_object(text, f"$.{name}")
        wrong_type = corrupt.isNotNull() & value.isNull() & given.isNotNull()
        checks.append(
            F.when(wrong_type, F.concat(F.lit(f"{name}: not a {rule['json_type']}: "), given))
        )
        if not rule["nullable"]:
            checks.append(
                F.when(
                    F.array_contains(keys, name) & value.isNull() & ~wrong_type,
                    F.lit(f"{name}: null is not allowed"),
                )
            )
        if "enum" in rule:
            checks.append(
                F.when(
                    value.isNotNull() & ~value.isin(rule["enum"]),
                    F.concat(
                        F.lit(f"{name}: "), value, F.lit(f" is not one of {_quoted(rule['enum'])}")
                    ),
                )
            )
        for bound, broken in (
            ("minimum", value < rule.get("minimum")),
            ("maximum", value > rule.get("maximum")),
        ):
            if bound in rule:
                checks.append(
                    F.when(
                        broken,
                        F.concat(
                            F.lit(f"{name}: "),
                            value.cast("string"),
                            F.lit(f" is beyond the {bound} {rule[bound]}"),
                        ),
                    )
                )
        if "minLength" in rule:
            checks.append(
                F.when(
                    F.length(value) < rule["minLength"],
                    F.lit(f"{name}: shorter than {rule['minLength']} character(s)"),
                )
            )
    return checks


def classify(kafka: DataFrame, spec: TopicSpec, future_minutes: float) -> DataFrame:
    """The Kafka rows of one topic with `record` (the parsed struct) and `_reason` (null: good).

    "In the future" is judged against the record's Kafka timestamp, not the clock: a batch
    replayed after a crash must judge each record as the first attempt did, or a record that
    was a dead letter then lands nowhere (its bronze append is already committed)."""
    now = F.col("timestamp")
    schema = T.StructType([*spec.schema.fields, T.StructField(CORRUPT, T.StringType())])
    text = F.col("value").cast("string")
    # The text, its keys and the parsed record are columns of their own, each computed once: an
    # expression repeated inside CASE branches is evaluated once per use (Spark shares common
    # subexpressions only from a CASE's first condition), so inline they tokenised a record
    # a dozen times.
    parsed = (
        kafka.withColumn("_text", text)
        .withColumn("_keys", F.json_object_keys("_text"))
        .withColumn(
            "record",
            F.from_json(
                "_text", schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}
            ),
        )
    )
    record, keys = F.col("record"), F.col("_keys")
    time_field = spec.table.time if spec.table else None
    checks = _rule_checks(spec, record, keys, F.col("_text"))
    if time_field:
        checks.append(
            F.when(
                record[time_field] > now + F.expr(f"make_dt_interval(0, 0, {future_minutes})"),
                F.concat(F.lit(f"{time_field} in the future: "), record[time_field].cast("string")),
            )
        )
    listed = F.col("_listed")
    # Unknown fields in an otherwise valid record are not named: from_json drops them.
    leftover = F.when(record[CORRUPT].isNotNull(), F.lit("does not match the schema"))
    reason = (
        F.when(F.col("value").isNull(), F.lit("empty message"))
        .when(~F.is_valid_utf8(text), F.lit("invalid UTF-8"))
        .when(keys.isNull(), F.lit("malformed JSON: not a JSON object"))
        .when(listed != "", listed)
        .otherwise(leftover)
    )
    unknown = F.lit(False) if spec.is_dead_letter else unknown_fields(spec.schema, text, keys)
    return (
        parsed.withColumn("_listed", F.concat_ws("; ", *checks))
        .withColumn(REASON, reason)
        .withColumn(RAW_VALUE, F.when(unknown, F.col("_text")))
        .drop("_text", "_keys", "_listed")
    )


def good_rows(classified: DataFrame, spec: TopicSpec, ingest_time: Column) -> DataFrame:
    """Bronze rows: every schema field as parsed (structs and arrays kept) plus ingest metadata
    and the raw value of a record with fields the schema lacks."""
    fields = [F.col("record")[f].alias(f) for f in spec.schema.fieldNames()]
    metadata = [F.col(source).alias(name) for name, (source, _) in METADATA.items()]
    return classified.where(F.col(REASON).isNull()).select(
        *fields, *metadata, ingest_time.alias("_ingested_at"), RAW_VALUE
    )


def dead_letters(classified: DataFrame, spec: TopicSpec, ingest_time: Column) -> DataFrame:
    """Dead-letter rows: the raw bytes, the reason and where in Kafka they were.

    Records of the dead-letter topic that parse are a producer's rejects: they keep that
    producer's reason and source; the ones that do not parse are this job's, like any other."""
    rejected = F.col(REASON).isNotNull()
    source_reject = ~rejected if spec.is_dead_letter else F.lit(False)
    rows = classified.where(rejected | source_reject)

    def from_source(field: str, otherwise: Column) -> Column:
        if not spec.is_dead_letter:
            return otherwise
        return F.when(source_reject, F.col("record")[field]).otherwise(otherwise)

    return rows.select(
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        "key",
        "value",
        from_source("reason", F.col(REASON)).alias("reason"),
        F.when(source_reject, F.lit("source")).otherwise(F.lit("stream")).alias("stage"),
        from_source("topic", F.col("topic")).alias("intended_topic"),
        from_source("source", F.lit(None).cast("string")).alias("source"),
        ingest_time.alias("ingest_time"),
    )
