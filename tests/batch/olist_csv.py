"""The Olist analytics computed straight from the CSV files, with no Spark: what the jobs' gold
tables over the replayed CDC tables must say."""

import csv
import statistics
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from generator.olist_replay import FILES

NOT_SOLD = {"canceled", "unavailable"}


def read(folder: Path, table: str) -> list[dict]:
    with open(folder / FILES[table], encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def late_orders(folder: Path) -> dict[str, bool]:
    """Delivered order → delivered after its estimated date (both as the CSV writes them)."""
    return {
        o["order_id"]: o["order_delivered_customer_date"] > o["order_estimated_delivery_date"]
        for o in read(folder, "orders")
        if o["order_delivered_customer_date"]
    }


def states(folder: Path) -> dict[str, str]:
    """order_id → its customer's state."""
    state = {c["customer_id"]: c["customer_state"] for c in read(folder, "customers")}
    return {o["order_id"]: state[o["customer_id"]] for o in read(folder, "orders")}


def sold_items(folder: Path) -> list[dict]:
    orders = {o["order_id"]: o for o in read(folder, "orders")}
    return [
        {**i, "purchased": orders[i["order_id"]]["order_purchase_timestamp"]}
        for i in read(folder, "order_items")
        if orders[i["order_id"]]["order_status"] not in NOT_SOLD
    ]


def monthly_revenue(folder: Path) -> dict[str, Decimal]:
    """'YYYY-MM' → the month's item prices of orders that sold."""
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for item in sold_items(folder):
        revenue[item["purchased"][:7]] += Decimal(item["price"])
    return dict(revenue)


def segments(folder: Path) -> dict[str, str]:
    """product_id → its segment against the median product's average price and order count."""
    prices, orders = defaultdict(list), defaultdict(set)
    for item in sold_items(folder):
        prices[item["product_id"]].append(Decimal(item["price"]))
        orders[item["product_id"]].add(item["order_id"])
    cents = Decimal("0.01")
    avg = {p: (sum(v) / len(v)).quantize(cents, ROUND_HALF_UP) for p, v in prices.items()}
    median_price = statistics.median(avg.values())
    median_orders = statistics.median(len(o) for o in orders.values())
    names = {(True, True): "Star", (True, False): "Niche", (False, True): "Volume",
             (False, False): "Question mark"}  # fmt: skip
    return {p: names[avg[p] > median_price, len(orders[p]) > median_orders] for p in avg}
