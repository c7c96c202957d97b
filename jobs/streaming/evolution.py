"""A stream table's schema brought to the stream spec's in place: Iceberg schema changes, never a
table recreated.

What a change to a topic's JSON Schema may do, and what it becomes:
- a field added that may be null or absent (not `required`, or null allowed), at the top or in a
  nested object, also inside an array's objects → ADD COLUMN; rows already written read null;
- a type widened as Iceberg allows (int → long, float → double, a decimal's precision raised
  with its scale kept) → ALTER COLUMN ... TYPE;
- a field renamed with `"x-renamed-from": "<old name>"` beside it → RENAME COLUMN (Iceberg
  tracks columns by id: the rows already written keep their values under the new name).
Anything else is refused, naming the field and why, before any change is made: a required
field added (the rows already written and the records still in Kafka lack it), a field
removed, a type changed or narrowed.

The layout follows the topics spec the same way: a time partition's field or granularity
changed (days → hours) → REPLACE PARTITION FIELD, a partition field added or removed → ADD or
DROP PARTITION FIELD, the sort changed → WRITE LOCALLY ORDERED BY. Iceberg keeps every spec:
files already written stay as they were (and are read as they were); the files compaction
rewrites are written in the current one.
"""

import re
from dataclasses import dataclass

from pyspark.sql import types as T

# Type promotions Iceberg's schema evolution allows, besides a decimal's precision.
WIDENINGS = {(T.IntegerType(), T.LongType()), (T.FloatType(), T.DoubleType())}


@dataclass(frozen=True)
class Change:
    clause: str  # ALTER TABLE <table> <clause>
    what: str
    # The top-level column a field added or renamed is in: rows that landed with that field
    # before (in their raw value) get it filled.
    column: str | None = None


class SchemaChangeRefused(ValueError):
    pass


def _ddl(data_type: T.DataType) -> str:
    """Spark SQL's name of a type, nested ones included."""
    if isinstance(data_type, T.StructType):
        return f"STRUCT<{', '.join(f'`{f.name}`: {_ddl(f.dataType)}' for f in data_type)}>"
    if isinstance(data_type, T.ArrayType):
        return f"ARRAY<{_ddl(data_type.elementType)}>"
    if isinstance(data_type, T.MapType):
        return f"MAP<{_ddl(data_type.keyType)}, {_ddl(data_type.valueType)}>"
    return data_type.simpleString().upper()


def _same(a: T.DataType, b: T.DataType) -> bool:
    """Equal types, nullability aside (the tables make every field nullable)."""
    if isinstance(a, T.StructType) and isinstance(b, T.StructType):
        return [f.name for f in a] == [f.name for f in b] and all(
            _same(x.dataType, y.dataType) for x, y in zip(a, b, strict=True)
        )
    if isinstance(a, T.ArrayType) and isinstance(b, T.ArrayType):
        return _same(a.elementType, b.elementType)
    if isinstance(a, T.MapType) and isinstance(b, T.MapType):
        return _same(a.keyType, b.keyType) and _same(a.valueType, b.valueType)
    return a == b


def _compare(path: str, old: T.DataType, new: T.DataType, renamed, changes, refused) -> None:
    if isinstance(old, T.StructType) and isinstance(new, T.StructType):
        _fields(path, old, new, renamed, changes, refused)
    elif isinstance(old, T.ArrayType) and isinstance(new, T.ArrayType):
        _compare(f"{path}.element", old.elementType, new.elementType, renamed, changes, refused)
    elif _same(old, new):
        pass
    elif (old, new) in WIDENINGS or (
        isinstance(old, T.DecimalType) and isinstance(new, T.DecimalType)
        and new.scale == old.scale and new.precision > old.precision
    ):  # fmt: skip
        changes.append(Change(f"ALTER COLUMN {path} TYPE {_ddl(new)}",
                              f"{path}: {old.simpleString()} → {new.simpleString()}"))  # fmt: skip
    else:
        refused.append(f"{path}: {old.simpleString()} → {new.simpleString()} is not a widening "
                       "Iceberg allows (int → long, float → double, a decimal's precision "
                       "raised with its scale kept)")  # fmt: skip


def _fields(prefix: str, old: T.StructType, new: T.StructType, renamed, changes, refused):
    have = {f.name: f for f in old}
    used = set()
    for before, field in zip([None, *new.fieldNames()], new, strict=False):
        path = f"{prefix}.{field.name}" if prefix else field.name
        was = renamed.get(path)
        if field.name in have:
            used.add(field.name)
            _compare(path, have[field.name].dataType, field.dataType, renamed, changes, refused)
        elif was is not None and was in have:
            used.add(was)
            old_path = f"{prefix}.{was}" if prefix else was
            changes.append(Change(f"RENAME COLUMN {old_path} TO {field.name}",
                                  f"{old_path} renamed {field.name}",
                                  path.split(".")[0]))  # fmt: skip
            _compare(path, have[was].dataType, field.dataType, renamed, changes, refused)
        elif not field.nullable:
            refused.append(f"{path}: a required field added; the rows already written and the "
                           "records still in Kafka lack it (add it as optional: not in "
                           "`required`, or null allowed)")  # fmt: skip
        else:
            # Where the spec has it, as a new table would: tables keep one column order.
            where = f"AFTER {before}" if before else "FIRST"
            changes.append(Change(f"ADD COLUMN {path} {_ddl(field.dataType)} {where}",
                                  f"{path} added ({field.dataType.simpleString()})",
                                  path.split(".")[0]))  # fmt: skip
    for name in have.keys() - used:
        path = f"{prefix}.{name}" if prefix else name
        refused.append(f"{path}: removed from the schema; the stream would have no value to "
                       "write for it (keep it as optional instead)")  # fmt: skip


def plan_changes(
    table: str, current: T.StructType, wanted: T.StructType, renamed: dict[str, str]
) -> list[Change]:
    """What turns `current` (the table's columns) into `wanted` (the spec's, with required
    fields not nullable); SchemaChangeRefused naming every field that cannot change so.
    `renamed`: a field's path → its old name."""
    changes: list[Change] = []
    refused: list[str] = []
    _fields("", current, wanted, renamed, changes, refused)
    if refused:
        raise SchemaChangeRefused(f"{table}: " + "; ".join(refused))
    return changes


@dataclass(frozen=True)
class Layout:
    """A table's partition fields as Spark SQL names them (days(timestamp), event_type) and its
    write order (column names)."""

    partition: list[str]
    sort: list[str]


def _source(field: str, names: dict[str, str]) -> str:
    """A partition field with its column's current name."""
    transform = re.fullmatch(r"(\w+)\((\w+)\)", field)
    if transform:
        return f"{transform[1]}({names.get(transform[2], transform[2])})"
    return names.get(field, field)


def plan_layout(current: Layout, wanted: Layout, renamed: dict[str, str]) -> list[Change]:
    """What turns the table's layout into the spec's, its columns already changed (renamed
    ones under their new names)."""
    names = {old: path for path, old in renamed.items() if "." not in path}
    have = [_source(f, names) for f in current.partition]
    gone = [f for f in have if f not in wanted.partition]
    added = [f for f in wanted.partition if f not in have]
    # A time partition changed is replaced in place, the others dropped or added.
    replaced = list(zip([f for f in gone if "(" in f], [f for f in added if "(" in f],
                        strict=False))  # fmt: skip
    changes = [Change(f"REPLACE PARTITION FIELD {old} WITH {new}", f"partition {old} → {new}")
               for old, new in replaced]  # fmt: skip
    changes += [Change(f"DROP PARTITION FIELD {f}", f"partition {f} dropped")
                for f in gone if f not in {old for old, _ in replaced}]  # fmt: skip
    changes += [Change(f"ADD PARTITION FIELD {f}", f"partition {f} added")
                for f in added if f not in {new for _, new in replaced}]  # fmt: skip
    sort, want = ", ".join(names.get(c, c) for c in current.sort), ", ".join(wanted.sort)
    if sort != want:
        changes.append(Change(f"WRITE LOCALLY ORDERED BY {want}", f"write order {sort} → {want}"))
    return changes
