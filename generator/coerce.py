"""CSV text to typed values, driven by the target topic's JSON Schema (pure functions)."""

from datetime import datetime
from typing import Any


class CoercionError(ValueError):
    pass


def iso_utc(text: str) -> str:
    """'2017-07-09 21:57:05' (or with 'T', ' UTC', 'Z') as RFC 3339 UTC: '2017-07-09T21:57:05Z'.
    Naive source times are read as UTC: the Olist dataset gives no zone."""
    value = text.strip().removesuffix(" UTC").removesuffix("Z")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CoercionError(f"{text!r} is not a date-time") from None
    if parsed.tzinfo is not None:
        raise CoercionError(f"{text!r}: only UTC or zone-less times are expected")
    return parsed.isoformat(timespec="milliseconds" if parsed.microsecond else "seconds") + "Z"


def _value(text: str, prop: dict[str, Any]) -> Any:
    types = prop.get("type", "string")
    types = [types] if isinstance(types, str) else types
    if text == "":
        if "null" in types:
            return None
        if "string" in types and prop.get("format") != "date-time":
            return ""
        raise CoercionError("empty, but the field is required")
    if "integer" in types:
        try:
            number = float(text)
        except ValueError:
            raise CoercionError(f"{text!r} is not a number") from None
        if not number.is_integer():
            raise CoercionError(f"{text!r} is not a whole number")
        return int(number)
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            raise CoercionError(f"{text!r} is not a number") from None
    if prop.get("format") == "date-time":
        return iso_utc(text)
    return text


def coerce_row(fields: dict[str, str], properties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`fields` typed as `properties` say; empty text is null where the schema allows null."""
    out = {}
    for name, text in fields.items():
        try:
            out[name] = _value(text, properties[name])
        except CoercionError as e:
            raise CoercionError(f"{name}: {e}") from None
    return out
