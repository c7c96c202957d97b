"""Daily sales of one day's silver shopping events (pure transforms; the day is already chosen).

A purchase event is one order of one product at its price.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.batch.day import Day
from jobs.streaming.gold import NO_CATEGORY


def is_purchase() -> F.Column:
    return F.col("event_type") == "purchase"


def _count(condition) -> F.Column:
    return F.count(F.when(condition, 1))


def by_category(events: DataFrame) -> DataFrame:
    """Orders, revenue and buyers per category."""
    return (
        events.where(is_purchase())
        .groupBy(F.coalesce("category", F.lit(NO_CATEGORY)).alias("category"))
        .agg(
            F.count(F.lit(1)).alias("orders"),
            F.sum("price").cast("decimal(18,2)").alias("revenue"),
            F.count_distinct("user_id").alias("buyers"),
        )
    )


def hourly_traffic(events: DataFrame, day: Day) -> DataFrame:
    """Events per hour of the shop's day (in its zone) and type."""
    return events.groupBy(day.hour(F.col("timestamp")).alias("hour"), "event_type").agg(
        F.count(F.lit(1)).alias("events")
    )


def hourly_sales(events: DataFrame, day: Day) -> DataFrame:
    """Orders and revenue per hour of the shop's day (in its zone)."""
    return (
        events.where(is_purchase())
        .groupBy(day.hour(F.col("timestamp")).alias("hour"))
        .agg(
            F.count(F.lit(1)).alias("orders"), F.sum("price").cast("decimal(18,2)").alias("revenue")
        )
    )


def product_funnel(events: DataFrame) -> DataFrame:
    """Per product: views, carts and purchases, and the step conversions between them."""
    counts = (
        events.where(F.col("product_id").isNotNull())
        .groupBy("product_id")
        .agg(
            F.max("category").alias("category"),
            _count(F.col("event_type") == "view").alias("views"),
            _count(F.col("event_type") == "add_cart").alias("carts"),
            _count(is_purchase()).alias("purchases"),
            F.sum(F.when(is_purchase(), F.col("price"))).cast("decimal(18,2)").alias("revenue"),
        )
    )
    return counts.withColumn("view_to_cart", _ratio("carts", "views")).withColumn(
        "cart_to_purchase", _ratio("purchases", "carts")
    )


def _ratio(numerator: str, denominator: str) -> F.Column:
    return F.when(F.col(denominator) > 0, F.round(F.col(numerator) / F.col(denominator), 4))
