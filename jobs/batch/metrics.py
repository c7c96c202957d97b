"""The day's headline metrics, one (metric, value) row each, from silver events and sessions."""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.batch.sales import is_purchase


def daily_metrics(events: DataFrame, sessions: DataFrame) -> dict[str, float | None]:
    """Revenue, orders, average order value, conversion and repurchase rates, sessions, bounce
    rate and the view→cart→purchase funnel of the whole shop.

    conversion: sessions with a purchase / sessions; repurchase: buyers with two or more orders
    / buyers; bounce: sessions of a single event / sessions."""
    e = events.agg(
        F.sum(F.when(is_purchase(), F.col("price"))).alias("revenue"),
        F.count(F.when(is_purchase(), 1)).alias("orders"),
        F.count(F.when(F.col("event_type") == "view", 1)).alias("views"),
        F.count(F.when(F.col("event_type") == "add_cart", 1)).alias("carts"),
    ).first()
    per_buyer = events.where(is_purchase()).groupBy("user_id").count()
    b = per_buyer.agg(
        F.count(F.lit(1)).alias("buyers"), F.count(F.when(F.col("count") >= 2, 1)).alias("again")
    ).first()
    s = sessions.agg(
        F.count(F.lit(1)).alias("sessions"),
        F.count(F.when(F.array_contains("events.event_type", "purchase"), 1)).alias("converted"),
        F.count(F.when(F.size("events") == 1, 1)).alias("bounced"),
    ).first()
    revenue = float(e.revenue or 0)

    def ratio(a, b):
        return round(a / b, 4) if b else None

    return {
        "revenue": round(revenue, 2),
        "orders": float(e.orders),
        "average_order_value": round(revenue / e.orders, 2) if e.orders else None,
        "buyers": float(b.buyers),
        "repurchase_rate": ratio(b.again, b.buyers),
        "sessions": float(s.sessions),
        "conversion_rate": ratio(s.converted, s.sessions),
        "bounce_rate": ratio(s.bounced, s.sessions),
        "view_to_cart": ratio(e.carts, e.views),
        "cart_to_purchase": ratio(e.orders, e.carts),
    }
