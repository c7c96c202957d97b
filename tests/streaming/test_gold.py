"""Gold windows from silver rows: the numbers a person would compute by hand."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from jobs.streaming import gold

T0 = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)
EVENTS = (
    "event_type string, product_id string, category string, price decimal(12,2), "
    "timestamp timestamp"
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def events(spark):
    rows = [
        ("purchase", "P1", "가구", Decimal("10.00"), at(0.5)),
        ("purchase", "P2", "가구", Decimal("5.50"), at(4.9)),
        ("purchase", "P3", None, Decimal("1.00"), at(1)),
        ("purchase", "P1", "가구", Decimal("7.00"), at(5.0)),  # the next window
        ("view", "P2", "가구", Decimal("5.50"), at(1)),
        ("view", "P2", "가구", Decimal("5.50"), at(2)),
        ("view", "P1", "가구", Decimal("10.00"), at(3)),
        ("search", None, "가구", None, at(3)),
    ]
    return spark.createDataFrame(rows, EVENTS)


def test_sales_by_category_per_window(spark):
    got = {
        (r.window_start, r.category): (r.purchases, r.revenue)
        for r in gold.sales_by_category(events(spark)).collect()
    }
    assert got == {
        (at(0).replace(tzinfo=None), "가구"): (2, Decimal("15.50")),
        (at(0).replace(tzinfo=None), gold.NO_CATEGORY): (1, Decimal("1.00")),
        (at(5).replace(tzinfo=None), "가구"): (1, Decimal("7.00")),
    }


def test_top_products_by_revenue_and_views(spark):
    rows = gold.top_products(events(spark)).where("window_start = '2024-05-01 03:00:00'")
    got = sorted((r.metric, r.rank, r.product_id, r.value) for r in rows.collect())
    assert got == [
        ("revenue", 1, "P1", Decimal("10.00")),
        ("revenue", 2, "P2", Decimal("5.50")),
        ("revenue", 3, "P3", Decimal("1.00")),
        ("views", 1, "P2", Decimal("2.00")),
        ("views", 2, "P1", Decimal("1.00")),
    ]


def test_top_products_keeps_ten(spark):
    rows = [("view", f"P{i:02d}", "c", Decimal("1"), at(1)) for i in range(15)]
    top = gold.top_products(spark.createDataFrame(rows, EVENTS)).collect()
    assert sorted(r.rank for r in top) == list(range(1, 11))


def test_event_counts(spark):
    got = {
        (r.window_start.minute, r.event_type): r.events
        for r in gold.event_counts(events(spark)).collect()
    }
    assert got == {(0, "purchase"): 3, (5, "purchase"): 1, (0, "view"): 3, (0, "search"): 1}


def test_session_metrics(spark):
    schema = "started_at timestamp, ended_at timestamp, events array<struct<event_type: string>>"
    rows = [
        (at(1), at(3), [("view",), ("purchase",)]),
        (at(2), at(2.5), [("view",)]),
    ]
    (m,) = gold.session_metrics(spark.createDataFrame(rows, schema)).collect()
    assert (m.sessions, m.avg_duration_s, m.avg_events, m.conversion_rate, m.bounce_rate) == (
        2, 75.0, 1.5, 0.5, 0.5,
    )  # fmt: skip


def test_search_terms_rank_the_most_searched_queries_per_window(spark):
    rows = [(" Sofa", at(0)), ("sofa", at(1)), ("lamp", at(2)), ("desk", at(3)), ("lamp", at(6))]
    rows += [(f"q{i:02}", at(4)) for i in range(12)]
    got = gold.search_terms(spark.createDataFrame(rows, "query string, timestamp timestamp"))
    first = sorted(
        (r.rank, r.query, r.searches) for r in got.collect() if r.window_start.minute == 0
    )
    # sofa twice (trimmed, lower-cased); ties by query; ten per window
    assert first[:4] == [(1, "sofa", 2), (2, "desk", 1), (3, "lamp", 1), (4, "q00", 1)]
    assert len(first) == 10
    assert [(r.rank, r.query) for r in got.collect() if r.window_start.minute == 5] == [(1, "lamp")]
