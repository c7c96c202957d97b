"""Spark and Iceberg schemas derived from a topic's JSON Schema, so no schema is typed twice.

Mapping: string → string, string with format date-time → timestamp (with zone), integer →
long, number → double, or decimal(p, s) when the property says `"x-decimal": [p, s]`,
boolean → boolean, object → struct (fields in the schema's order), array → list. A field may
be null when its type lists "null", it is `anyOf` a schema and `{"type": "null"}`, or it is
not in `required`. pyspark and pyiceberg are imported inside the functions: the generator
itself runs without them.
"""

from collections.abc import Callable
from typing import Any

from generator.schemas import SchemaError, load_schema
from generator.topics import topic


def _non_null(schema: dict[str, Any], where: str) -> tuple[dict[str, Any], str, bool]:
    """The schema without its null alternative, its one JSON type, and whether null is allowed."""
    if "anyOf" in schema:
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        if len(branches) != 1:
            raise SchemaError(f"{where}: anyOf must be one schema and null")
        inner, json_type, _ = _non_null(branches[0], where)
        return inner, json_type, len(branches) < len(schema["anyOf"])
    types = schema.get("type")
    if types is None and "enum" in schema:
        types = "string"
    types = [types] if isinstance(types, str) else list(types or [])
    non_null = [t for t in types if t != "null"]
    if len(non_null) != 1:
        raise SchemaError(f"{where}: needs exactly one non-null type, has {types}")
    return schema, non_null[0], len(non_null) < len(types)


def _fields(schema: dict[str, Any], where: str) -> list[tuple[str, dict[str, Any], bool]]:
    """(name, schema, nullable) for each property of an object schema."""
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        _, _, nullable = _non_null(prop, f"{where}.{name}")
        out.append((name, prop, nullable or name not in required))
    return out


def _convert(schema: dict[str, Any], where: str, types: dict[str, Callable[..., Any]]) -> Any:
    inner, json_type, _ = _non_null(schema, where)
    if json_type == "object":
        return types["object"](
            [
                (n, _convert(p, f"{where}.{n}", types), nullable)
                for n, p, nullable in _fields(inner, where)
            ]
        )
    if json_type == "array":
        if "items" not in inner:
            raise SchemaError(f"{where}: array without items")
        items = inner["items"]
        _, _, item_nullable = _non_null(items, f"{where}[]")
        return types["array"](_convert(items, f"{where}[]", types), item_nullable)
    if json_type == "number" and "x-decimal" in inner:
        precision, scale = inner["x-decimal"]
        return types["decimal"](precision, scale)
    if json_type == "string" and inner.get("format") == "date-time":
        return types["timestamp"]()
    if json_type not in types:
        raise SchemaError(f"{where}: JSON type {json_type!r} has no table type")
    return types[json_type]()


def _topic_schema(name: str) -> dict[str, Any]:
    return load_schema(topic(name).schema)


def to_spark_schema(name: str):  # -> pyspark.sql.types.StructType
    """The Spark StructType of topic `name`'s records (for from_json in the streaming jobs)."""
    from pyspark.sql import types as T

    spark_types = {
        "object": lambda fields: T.StructType(
            [T.StructField(n, t, nullable) for n, t, nullable in fields]
        ),
        "array": lambda item, nullable: T.ArrayType(item, containsNull=nullable),
        "decimal": T.DecimalType,
        "timestamp": T.TimestampType,
        "string": T.StringType,
        "integer": T.LongType,
        "number": T.DoubleType,
        "boolean": T.BooleanType,
    }
    return _convert(_topic_schema(name), name, spark_types)


def to_iceberg_schema(name: str):  # -> pyiceberg.schema.Schema
    """The Iceberg schema of topic `name`'s table, ids numbered as Iceberg numbers a new table."""
    from pyiceberg import types as T
    from pyiceberg.schema import Schema, assign_fresh_schema_ids

    next_id = iter(range(1, 1 << 31))

    def struct(fields):
        return T.StructType(
            *(
                T.NestedField(next(next_id), n, t, required=not nullable)
                for n, t, nullable in fields
            )
        )

    iceberg_types = {
        "object": struct,
        "array": lambda item, nullable: T.ListType(
            next(next_id), item, element_required=not nullable
        ),
        "decimal": T.DecimalType,
        "timestamp": T.TimestamptzType,
        "string": T.StringType,
        "integer": T.LongType,
        "number": T.DoubleType,
        "boolean": T.BooleanType,
    }
    return assign_fresh_schema_ids(
        Schema(*_convert(_topic_schema(name), name, iceberg_types).fields)
    )


def renamed_fields(name: str) -> dict[str, str]:
    """A field's path (a.b; `element` for an array's items) → its old name, for each field of
    topic `name` that declares `"x-renamed-from": "<old name>"`: the tables rename the column."""
    found: dict[str, str] = {}

    def walk(schema: dict[str, Any], path: str) -> None:
        inner, json_type, _ = _non_null(schema, path or name)
        if json_type == "array" and "items" in inner:
            walk(inner["items"], f"{path}.element")
        for field, prop in inner.get("properties", {}).items() if json_type == "object" else ():
            here = f"{path}.{field}" if path else field
            if "x-renamed-from" in prop:
                found[here] = prop["x-renamed-from"]
            walk(prop, here)

    walk(_topic_schema(name), "")
    return found


def field_rules(name: str) -> list[dict[str, Any]]:
    """What topic `name`'s schema demands of each top-level field, for checks outside jsonschema
    (the streaming job checks records in Spark): required, null allowed, enum, bounds, minLength."""
    schema = _topic_schema(name)
    required = set(schema.get("required", []))
    rules = []
    for field, prop in schema.get("properties", {}).items():
        inner, json_type, null_allowed = _non_null(prop, f"{name}.{field}")
        rule: dict[str, Any] = {
            "field": field,
            "required": field in required,
            "nullable": null_allowed,
            "json_type": json_type,
        }
        for key in ("enum", "minimum", "maximum", "minLength"):
            if key in inner:
                rule[key] = inner[key]
        rules.append(rule)
    return rules
