"""The JSON Schema files every topic is validated against, loaded with their references resolved.

Schemas may point into `common.schema.json` with `$ref` and extend a shared part with `allOf`;
`load_schema` inlines both so validators and the Spark/Iceberg converters see one plain schema.
"""

import copy
import json
import os
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

# The schema source: this directory. SDP_SCHEMA_DIR names a copy to deploy instead (the schema
# evolution test deploys changed copies).
SCHEMA_DIR = Path(os.environ.get("SDP_SCHEMA_DIR") or Path(__file__).resolve().parent)

# RFC 3339 as the topics carry it: a zone is mandatory, so naive times cannot slip through.
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")


class SchemaError(ValueError):
    """A schema file is missing or uses something the helpers do not understand."""


@cache
def _read(file_name: str) -> dict[str, Any]:
    path = SCHEMA_DIR / file_name
    if not path.is_file():
        raise SchemaError(f"schema file {path} does not exist")
    return json.loads(path.read_text(encoding="utf-8"))


def _pointer(document: dict[str, Any], pointer: str, ref: str) -> Any:
    node: Any = document
    for part in filter(None, pointer.split("/")):
        if not isinstance(node, dict) or part not in node:
            raise SchemaError(f"$ref {ref!r} points at nothing")
        node = node[part]
    return node


def _resolve(node: Any, file_name: str) -> Any:
    if isinstance(node, list):
        return [_resolve(item, file_name) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        target_file, _, pointer = ref.partition("#")
        target_file = target_file or file_name
        target = _resolve(copy.deepcopy(_pointer(_read(target_file), pointer, ref)), target_file)
        siblings = {k: _resolve(v, file_name) for k, v in node.items() if k != "$ref"}
        return {**target, **siblings}
    resolved = {k: _resolve(v, file_name) for k, v in node.items()}
    for part in resolved.pop("allOf", []):
        resolved["properties"] = {**part.get("properties", {}), **resolved.get("properties", {})}
        resolved["required"] = [*part.get("required", []), *resolved.get("required", [])]
    return resolved


@cache
def load_schema(file_name: str) -> dict[str, Any]:
    """The schema in `file_name` (a file in this folder) with `$ref` and `allOf` inlined."""
    return _resolve(_read(file_name), file_name)


def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date-time")(_is_rfc3339)


@cache
def validator(file_name: str) -> Draft202012Validator:
    """A validator for the schema in `file_name` that also checks `date-time` formats."""
    schema = load_schema(file_name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_FORMATS)
