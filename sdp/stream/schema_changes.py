"""The schema changes a deployment of the stream spec would make to the lake's tables, planned on
the control node before anything is deployed: a change Iceberg cannot make safely stops the
deployment there, with the running stream untouched. The streaming job plans the same changes
(jobs.streaming.evolution) and makes them when it starts."""

from pyspark.sql import types as T

from jobs.streaming.config import TopicSpec, spec_from_document
from jobs.streaming.evolution import Change, plan_changes
from jobs.streaming.spec import build_spec
from jobs.streaming.tables import topic_columns


def spark_type(iceberg_type) -> T.DataType:
    """The Spark type Iceberg's Spark integration gives a column of `iceberg_type`."""
    from pyiceberg import types as I

    if isinstance(iceberg_type, I.StructType):
        return T.StructType([T.StructField(f.name, spark_type(f.field_type), not f.required)
                             for f in iceberg_type.fields])  # fmt: skip
    if isinstance(iceberg_type, I.ListType):
        return T.ArrayType(spark_type(iceberg_type.element_type), not iceberg_type.element_required)
    if isinstance(iceberg_type, I.MapType):
        return T.MapType(spark_type(iceberg_type.key_type), spark_type(iceberg_type.value_type),
                         not iceberg_type.value_required)  # fmt: skip
    if isinstance(iceberg_type, I.DecimalType):
        return T.DecimalType(iceberg_type.precision, iceberg_type.scale)
    primitives = {
        I.StringType: T.StringType, I.LongType: T.LongType, I.IntegerType: T.IntegerType,
        I.DoubleType: T.DoubleType, I.FloatType: T.FloatType, I.BooleanType: T.BooleanType,
        I.TimestamptzType: T.TimestampType, I.TimestampType: T.TimestampNTZType,
        I.DateType: T.DateType, I.BinaryType: T.BinaryType,
    }  # fmt: skip
    for iceberg, spark in primitives.items():
        if isinstance(iceberg_type, iceberg):
            return spark()
    raise ValueError(f"no Spark type for Iceberg's {iceberg_type}")


def pending_changes(catalog, spec: dict[str, TopicSpec] | None = None) -> dict[str, list[Change]]:
    """Each existing topic table → the changes the spec (default: the one derived from the
    schema source) makes to it; SchemaChangeRefused, naming every field that cannot change,
    before any table is touched."""
    from pyiceberg.exceptions import NoSuchTableError

    spec = spec if spec is not None else spec_from_document(build_spec())
    planned = {}
    for topic in spec.values():
        if topic.table is None:
            continue
        for layer in ("bronze", "silver"):
            name = f"{layer}.{topic.table.name}"
            try:
                schema = catalog.load_table(name).schema().as_struct()
            except NoSuchTableError:  # the stream creates it from the spec as it is
                continue
            planned[name] = plan_changes(
                f"lake.{name}", spark_type(schema), topic_columns(topic), topic.renamed
            )
    return planned
