"""The schema changes a deployment of the stream spec would make to the lake's tables, planned on
the control node before anything is deployed: a change Iceberg cannot make safely stops the
deployment there, with the running stream untouched. The streaming job plans the same changes
(jobs.streaming.evolution) and makes them when it starts."""

from pyspark.sql import types as T

from jobs.streaming.config import CATALOG, TopicSpec, spec_from_document
from jobs.streaming.evolution import Layout
from jobs.streaming.spec import build_spec
from jobs.streaming.tables import plan_tables


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


def layout(table) -> Layout:
    """The pyiceberg table's partition fields and write order as Spark SQL names them."""
    schema = table.schema()
    partition = []
    for field in table.spec().fields:
        column, transform = schema.find_column_name(field.source_id), str(field.transform)
        if transform == "identity":
            partition.append(column)
        elif transform != "void":  # a field a format-1 table dropped
            partition.append(f"{transform}s({column})")  # day → days(...)
    return Layout(partition, [schema.find_column_name(f.source_id)
                              for f in table.sort_order().fields])  # fmt: skip


def pending_changes(catalog, spec: dict[str, TopicSpec] | None = None) -> list[str]:
    """What the spec (default: the one derived from the schema source) changes in the lake's
    existing topic tables, a line each ("bronze.t: x added (string)"); SchemaChangeRefused,
    naming every field that cannot change, before any table is touched."""
    from pyiceberg.exceptions import NoSuchTableError

    def name(fqn: str) -> str:
        return fqn.removeprefix(f"{CATALOG}.")

    def current(fqn: str) -> tuple[T.StructType, Layout] | None:
        try:
            table = catalog.load_table(name(fqn))
        except NoSuchTableError:
            return None
        return spark_type(table.schema().as_struct()), layout(table)

    spec = spec if spec is not None else spec_from_document(build_spec())
    planned = plan_tables(spec, current)
    return [f"{name(fqn)}: {c.what}" for fqn, changes in planned.items() for c in changes]
