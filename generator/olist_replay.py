"""`sdp replay olist`: the 9 Olist tables replayed as change data capture, in source-time order.

The plan (`build_plan`, pure) puts every row on one timeline:
- reference rows no order points at in time (category translations, geolocation, and any
  customer, product or seller no order uses) first, as a snapshot (`_op` r);
- each order at its purchase time as an insert, preceded by whatever it refers to that was not
  published yet: its customer, each item's product and seller, then its items and payments;
- one update per later status time (approved, shipped, delivered), and a last update with the
  final status when that is not the one the times imply, so the last change equals the CSV row;
- each review at its creation time (never before its order's insert).
Rows that cannot be read or typed go to the dead-letter topic first; records that break their
schema are caught when published. `_seq` is the position in the plan; a state file keeps the
next position, written only after a flush confirmed everything before it, so a stopped replay
resumes where it stopped.
"""

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from generator.coerce import CoercionError, coerce_row
from generator.csv_input import InputFileError, read_csv
from generator.dead_letters import send_dead_letter
from generator.producing import DeliveryError, Sink, wall_clock_iso
from generator.schemas import load_schema
from generator.topics import topic

FILES = {
    "customers": "olist_customers_dataset.csv",
    "geolocation": "olist_geolocation_dataset.csv",
    "orders": "olist_orders_dataset.csv",
    "order_items": "olist_order_items_dataset.csv",
    "order_payments": "olist_order_payments_dataset.csv",
    "order_reviews": "olist_order_reviews_dataset.csv",
    "products": "olist_products_dataset.csv",
    "sellers": "olist_sellers_dataset.csv",
    "product_category_name_translation": "product_category_name_translation.csv",
}
DEAD = "dead-letter"  # PlanEntry.table of a row that could not be read
# Status an order has once each of its times is set, in the order they happen.
STATUS_TIMES = (
    ("approved", "order_approved_at"),
    ("shipped", "order_delivered_carrier_date"),
    ("delivered", "order_delivered_customer_date"),
)


def topic_name(table: str) -> str:
    return f"olist.{table}"


def columns(table: str) -> tuple[str, ...]:
    """The CSV columns of `table`: its schema's properties without the CDC metadata."""
    props = load_schema(topic(topic_name(table)).schema)["properties"]
    return tuple(name for name in props if not name.startswith("_"))


@dataclass(frozen=True, slots=True)
class Row:
    source: str  # file:line
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PlanEntry:
    table: str
    op: str  # r, c, u; empty for dead letters
    at: float  # source time, epoch seconds
    values: dict[str, Any]
    source: str


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def read_tables(folder: Path) -> tuple[dict[str, list[Row]], list[PlanEntry]]:
    """Typed rows of every table, and a dead-letter entry for each row that could not be typed."""
    if not folder.is_dir():
        raise InputFileError(f"Olist folder {folder} does not exist")
    missing = [name for name in FILES.values() if not (folder / name).is_file()]
    if missing:
        raise InputFileError(f"{folder} lacks the Olist files {missing}")
    tables: dict[str, list[Row]] = {}
    dead: list[PlanEntry] = []
    for table, file_name in FILES.items():
        props = load_schema(topic(topic_name(table)).schema)["properties"]
        rows = tables[table] = []
        for csv_row in read_csv(folder / file_name, columns(table)):
            problem = csv_row.problem
            if csv_row.fields is not None:
                try:
                    rows.append(Row(csv_row.source, coerce_row(csv_row.fields, props)))
                    continue
                except CoercionError as e:
                    problem = str(e)
            payload = csv_row.fields if csv_row.fields is not None else csv_row.raw
            values = {"topic": topic_name(table), "reason": problem, "payload": payload}
            dead.append(PlanEntry(DEAD, "", 0.0, values, csv_row.source))
    return tables, dead


def order_changes(order: dict[str, Any]) -> list[tuple[float, str, dict[str, Any]]]:
    """(time, op, row) for each status the order reached; times never go back, the last row is
    the order as the CSV has it."""
    hidden = {column: None for _, column in STATUS_TIMES}
    state = {**order, **hidden, "order_status": "created"}
    at = _epoch(order["order_purchase_timestamp"])
    changes = [(at, "c", state)]
    for status, column in STATUS_TIMES:
        if order[column] is not None:
            at = max(at, _epoch(order[column]))
            state = {**state, column: order[column], "order_status": status}
            changes.append((at, "u", state))
    if state != order:
        changes.append((at, "u", dict(order)))
    return changes


def build_plan(tables: dict[str, list[Row]], dead: Iterable[PlanEntry] = ()) -> list[PlanEntry]:
    """The replay order of every row (see the module doc)."""
    by_key = {
        table: {r.values[topic(topic_name(table)).key]: r for r in tables[table]}
        for table in ("customers", "products", "sellers")
    }
    children: dict[str, dict[str, list[Row]]] = {
        t: defaultdict(list) for t in ("order_items", "order_payments")
    }
    for table, per_order in children.items():
        for r in tables[table]:
            per_order[r.values["order_id"]].append(r)
    orders = {r.values["order_id"]: r for r in tables["orders"]}

    timeline: list[tuple[float, int, str, str, Row]] = []  # (time, tiebreak, table, op, row)
    for order in tables["orders"]:
        for at, op, values in order_changes(order.values):
            timeline.append((at, len(timeline), "orders", op, Row(order.source, values)))
    created = {
        r.values["order_id"]: _epoch(r.values["order_purchase_timestamp"]) for r in tables["orders"]
    }
    orphans: list[tuple[str, Row]] = []
    for review in tables["order_reviews"]:
        order_created = created.get(review.values["order_id"])
        if order_created is None:
            orphans.append(("order_reviews", review))
            continue
        at = max(_epoch(review.values["review_creation_date"]), order_created)
        timeline.append((at, len(timeline), "order_reviews", "c", review))
    timeline.sort(key=lambda e: (e[0], e[1]))
    start = timeline[0][0] if timeline else 0.0

    needed = {
        "customers": {o.values["customer_id"] for o in tables["orders"]},
        "products": {
            i.values["product_id"] for i in tables["order_items"] if i.values["order_id"] in orders
        },
        "sellers": {
            i.values["seller_id"] for i in tables["order_items"] if i.values["order_id"] in orders
        },
    }
    plan = [PlanEntry(e.table, e.op, start, e.values, e.source) for e in dead]
    for table in ("product_category_name_translation", "geolocation"):
        plan += [PlanEntry(table, "r", start, r.values, r.source) for r in tables[table]]
    for table, rows in by_key.items():
        plan += [
            PlanEntry(table, "r", start, r.values, r.source)
            for k, r in rows.items()
            if k not in needed[table]
        ]
    for table, per_order in children.items():
        orphans += [
            (table, r) for oid, rows in per_order.items() if oid not in orders for r in rows
        ]
    plan += [PlanEntry(table, "r", start, r.values, r.source) for table, r in orphans]

    published: set[tuple[str, str]] = set()

    def once(table: str, key: str, at: float) -> None:
        row = by_key[table].get(key)
        if row is not None and (table, key) not in published:
            published.add((table, key))
            plan.append(PlanEntry(table, "c", at, row.values, row.source))

    for at, _, table, op, row in timeline:
        if table == "orders" and op == "c":
            oid = row.values["order_id"]
            once("customers", row.values["customer_id"], at)
            for item in children["order_items"][oid]:
                once("products", item.values["product_id"], at)
                once("sellers", item.values["seller_id"], at)
            for child in ("order_items", "order_payments"):
                plan += [
                    PlanEntry(child, "c", at, r.values, r.source) for r in children[child][oid]
                ]
        plan.append(PlanEntry(table, op, at, row.values, row.source))
    return plan


def fingerprint(folder: Path) -> str:
    """sha256 over the 9 files' contents: a state file only resumes the input it was made for."""
    digest = hashlib.sha256()
    for name in FILES.values():
        digest.update(name.encode())
        digest.update(hashlib.sha256((folder / name).read_bytes()).digest())
    return digest.hexdigest()


class ReplayState:
    """Where the replay of one input stopped: the next `_seq` to publish."""

    def __init__(self, path: Path, input_fingerprint: str) -> None:
        self.path = path
        self.fingerprint = input_fingerprint

    def load(self) -> int:
        if not self.path.exists():
            return 0
        try:
            state = json.loads(self.path.read_text())
            saved, next_seq = state["input"], int(state["next_seq"])
        except (ValueError, KeyError) as e:
            raise InputFileError(
                f"state file {self.path} is unreadable ({e}); delete it to restart"
            ) from None
        if saved != self.fingerprint:
            raise InputFileError(
                f"state file {self.path} belongs to another input; "
                "pass --restart or another --state"
            )
        return next_seq

    def save(self, next_seq: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"input": self.fingerprint, "next_seq": next_seq}))
        tmp.replace(self.path)


@dataclass(frozen=True)
class Pacing:
    speed: float  # source seconds per wall second; 0: no pacing
    max_gap_s: float  # longest wall-clock wait between two records


def _record(entry: PlanEntry, seq: int) -> dict[str, Any]:
    return {
        "_op": entry.op,
        "_seq": seq,
        "_event_time": _iso(entry.at),
        "_ingest_time": wall_clock_iso(),
        **entry.values,
    }


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def replay(
    plan: list[PlanEntry],
    sink: Sink,
    state: ReplayState,
    pacing: Pacing,
    checkpoint_every: int = 5000,
    on_tick: Callable[[], None] = lambda: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[int, int]:
    """Publish `plan` from where `state` says; returns (first, next) positions published."""
    first = next_seq = state.load()
    wall = time.monotonic()
    previous_at = plan[first].at if first < len(plan) else 0.0
    for position in range(first, len(plan)):
        if should_stop():
            break
        entry = plan[position]
        if pacing.speed > 0 and entry.at > previous_at:
            wall += min((entry.at - previous_at) / pacing.speed, pacing.max_gap_s)
            while (ahead := wall - time.monotonic()) > 0.001 and not should_stop():
                time.sleep(min(ahead, 0.2))
                on_tick()
        previous_at = max(previous_at, entry.at)
        if entry.table == DEAD:
            v = entry.values
            send_dead_letter(sink, v["topic"], v["reason"], entry.source, v["payload"])
        else:
            name = topic_name(entry.table)
            record = _record(entry, position)
            errors = topic(name).validate(record)
            if errors:
                send_dead_letter(sink, name, "; ".join(errors), entry.source, record)
            else:
                sink.send(name, str(record[topic(name).key]).encode(), orjson.dumps(record))
        next_seq = position + 1
        if next_seq % checkpoint_every == 0:
            _checkpoint(sink, state, next_seq)
            on_tick()
    _checkpoint(sink, state, next_seq)
    return first, next_seq


def _checkpoint(sink: Sink, state: ReplayState, next_seq: int) -> None:
    sink.flush()
    if sink.errors:
        raise DeliveryError(
            f"{sink.errors:,} records failed delivery; {state.path} keeps the last good position"
        )
    state.save(next_seq)
