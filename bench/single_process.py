"""E2's baseline: the three computations of jobs/experiments/scaling.py in one process, with pyarrow
and numpy, as "Scalability! But at what COST?" asks. Each returns what the Spark job's run
reports: [key, rows, value] sorted by key."""

import itertools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.experiments.scaling import WINDOW_HOURS, table
from sdp.platform.inventory import Inventory

COLUMNS = ("product_id", "category", "price", "timestamp")


def read_tables(inv: Inventory, name: str) -> tuple[pa.Table, pa.Table]:
    """The events (the columns the jobs use) and the products, from the lake, with pyiceberg."""
    from sdp.lake.catalog import open_catalog

    catalog = open_catalog(inv)
    events, products = (table(name, w).split(".", 1)[1] for w in ("events", "products"))
    return (
        catalog.load_table(events).scan(selected_fields=COLUMNS).to_arrow(),
        catalog.load_table(products).scan(selected_fields=("product_id", "item")).to_arrow(),
    )


def _rows(grouped: pa.Table, key: str, n: str, value: str) -> list[list]:
    keys, ns, values = (grouped.column(c).to_pylist() for c in (key, n, value))
    return sorted([k, c, float(v)] for k, c, v in zip(keys, ns, values, strict=True))


def by_category(events: pa.Table, products: pa.Table) -> list[list]:
    grouped = events.group_by("category").aggregate(
        [("category", "count", pc.CountOptions(mode="all")), ("price", "sum")]
    )
    return _rows(grouped, "category", "category_count", "price_sum")


def with_products(events: pa.Table, products: pa.Table) -> list[list]:
    joined = events.select(["product_id", "price"]).join(products, "product_id", join_type="inner")
    grouped = joined.group_by("item").aggregate(
        [("item", "count", pc.CountOptions(mode="all")), ("price", "sum")]
    )
    return _rows(grouped, "item", "item_count", "price_sum")


def moving_average(events: pa.Table, products: pa.Table) -> list[list]:
    priced = events.filter(pc.is_valid(events["price"]))
    hourly = (
        priced.append_column("hour", pc.floor_temporal(priced["timestamp"], unit="hour"))
        .group_by(["category", "hour"])
        .aggregate([("price", "sum")])
        .sort_by([("category", "ascending"), ("hour", "ascending")])
    )
    categories = hourly.column("category").to_pylist()
    revenue = hourly.column("price_sum").cast(pa.float64()).to_numpy()
    out, start = [], 0
    for category, hours in itertools.groupby(categories):  # one category's hours, in order
        end = start + sum(1 for _ in hours)
        sums = np.concatenate([[0.0], np.cumsum(revenue[start:end])])
        i = np.arange(end - start)
        first = np.maximum(i + 1 - WINDOW_HOURS, 0)
        means = (sums[i + 1] - sums[first]) / (i + 1 - first)
        out.append([category, end - start, float(means.sum())])
        start = end
    return sorted(out)


COMPUTATIONS = {
    "aggregate": by_category,
    "join": with_products,
    "window": moving_average,
}
