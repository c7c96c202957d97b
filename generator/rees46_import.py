"""`sdp import rees46`: a REES46 clickstream CSV mapped onto shopping-events.

view → view, cart → add_cart, purchase → purchase. Other event types (remove_from_cart in
later months), rows with the wrong number of fields and rows that break the schema go to the
dead-letter topic with the reason. event_id is a hash of the file name, line and row, so a
re-import produces the same ids.
"""

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from generator.coerce import CoercionError, iso_utc
from generator.csv_input import read_csv
from generator.dead_letters import send_dead_letter
from generator.producing import Sink
from generator.topics import topic

COLUMNS = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
EVENT_TYPES = {"view": "view", "cart": "add_cart", "purchase": "purchase"}
TOPIC = "shopping-events"


class MappingError(ValueError):
    pass


def map_row(fields: dict[str, str], source: str) -> dict[str, Any]:
    """One REES46 row as a shopping event; MappingError says why it cannot be one."""
    event_type = EVENT_TYPES.get(fields["event_type"])
    if event_type is None:
        raise MappingError(f"event_type {fields['event_type']!r} has no shopping-events equivalent")
    try:
        price = round(float(fields["price"]), 2)
        timestamp = iso_utc(fields["event_time"])
    except (ValueError, CoercionError) as e:
        raise MappingError(str(e)) from None
    digest = hashlib.blake2b(f"{source}\x00{sorted(fields.items())}".encode(), digest_size=16)
    return {
        "event_id": digest.hexdigest(),
        "event_type": event_type,
        "user_id": fields["user_id"],
        "session_id": fields["user_session"],
        "product_id": fields["product_id"],
        "category": fields["category_code"] or None,
        "brand": fields["brand"] or None,
        "price": price,
        "timestamp": timestamp,
        "device": None,
        "context": {"referrer": None, "campaign": None},
        "source": "rees46",
    }


def import_rees46(
    path: Path,
    sink: Sink,
    on_tick: Callable[[], None] = lambda: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Publish every row of `path`; returns the number of rows read."""
    shopping = topic(TOPIC)
    rows = 0
    for row in read_csv(path, COLUMNS):
        if should_stop():
            break
        rows += 1
        if row.fields is None:
            send_dead_letter(sink, TOPIC, row.problem, row.source, row.raw)
            continue
        try:
            event = map_row(row.fields, row.source)
        except MappingError as e:
            send_dead_letter(sink, TOPIC, str(e), row.source, row.fields)
            continue
        errors = shopping.validate(event)
        if errors:
            send_dead_letter(sink, TOPIC, "; ".join(errors), row.source, row.fields)
            continue
        sink.send(TOPIC, event["user_id"].encode(), orjson.dumps(event))
        if rows % 1000 == 0:
            on_tick()
    sink.flush()
    return rows
