"""Olist analytics over the CDC silver tables, where each row is an entity's latest state (pure
transforms): delivery delays, product segments and monthly sales.

Olist's times carry no zone and are kept as read; an order's category is its first item's
(English where the translation table has it). Orders `canceled` or `unavailable` sold nothing.
"""

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

UNKNOWN = "(unknown)"
NOT_SOLD = ("canceled", "unavailable")
# Each status an order reaches, with the time it reached it.
STATUS_TIMES = {
    "approved": "order_approved_at",
    "shipped": "order_delivered_carrier_date",
    "delivered": "order_delivered_customer_date",
}


def days_between(start: str, end: str) -> Column:
    return F.round((F.unix_timestamp(end) - F.unix_timestamp(start)) / 86400, 2)


def product_categories(products: DataFrame, translations: DataFrame) -> DataFrame:
    """product_id → category, in English where translated."""
    english = translations.select("product_category_name", "product_category_name_english")
    return products.join(english, "product_category_name", "left").select(
        "product_id",
        F.coalesce("product_category_name_english", "product_category_name", F.lit(UNKNOWN))
        .alias("category"),
    )  # fmt: skip


def order_categories(items: DataFrame, categories: DataFrame) -> DataFrame:
    """order_id → its first item's category."""
    first = items.where(F.col("order_item_id") == 1).select("order_id", "product_id")
    return first.join(categories, "product_id", "left").select(
        "order_id", F.coalesce("category", F.lit(UNKNOWN)).alias("category")
    )


def order_delivery(orders: DataFrame, customers: DataFrame, categories: DataFrame) -> DataFrame:
    """One row per order: where it went, when it was promised and delivered, how late.
    categories: order_categories(...). `late` and the delays are null until delivered."""
    delivered, estimated = "order_delivered_customer_date", "order_estimated_delivery_date"
    return (
        orders.join(customers.select("customer_id", "customer_state"), "customer_id", "left")
        .join(categories, "order_id", "left")
        .select(
            "order_id",
            "order_status",
            F.coalesce("customer_state", F.lit(UNKNOWN)).alias("state"),
            F.coalesce("category", F.lit(UNKNOWN)).alias("category"),
            F.col("order_purchase_timestamp").alias("purchased_at"),
            F.col(estimated).alias("estimated_at"),
            F.col(delivered).alias("delivered_at"),
            days_between("order_purchase_timestamp", delivered).alias("delivery_days"),
            days_between(estimated, delivered).alias("delay_days"),
            (F.col(delivered) > F.col(estimated)).alias("late"),
        )
    )


def delivery_by(delivery: DataFrame, column: str) -> DataFrame:
    """Per state or category, over delivered orders: how many, how many late, the late share,
    the average days to deliver and the average delay of the late ones."""
    done = delivery.where(F.col("delivered_at").isNotNull())
    late = F.col("late")
    return (
        done.groupBy(column)
        .agg(
            F.count(F.lit(1)).alias("delivered"),
            F.count(F.when(late, 1)).alias("late"),
            F.round(F.avg("delivery_days"), 2).alias("avg_delivery_days"),
            F.round(F.avg(F.when(late, F.col("delay_days"))), 2).alias("avg_late_days"),
        )
        .withColumn("late_share", F.round(F.col("late") / F.col("delivered"), 4))
    )


def status_lead_times(orders: DataFrame) -> DataFrame:
    """Per status an order reaches (approved, shipped, delivered): how many orders reached it and
    the days from purchase to it (average, median, 90th percentile)."""
    reached = None
    for status, column in STATUS_TIMES.items():
        rows = orders.where(F.col(column).isNotNull()).select(
            F.lit(status).alias("status"),
            days_between("order_purchase_timestamp", column).alias("days"),
        )
        reached = rows if reached is None else reached.unionByName(rows)
    return reached.groupBy("status").agg(
        F.count(F.lit(1)).alias("orders"),
        F.round(F.avg("days"), 2).alias("avg_days"),
        F.round(F.percentile("days", 0.5), 2).alias("p50_days"),
        F.round(F.percentile("days", 0.9), 2).alias("p90_days"),
    )


def sold_items(orders: DataFrame, items: DataFrame) -> DataFrame:
    """Items of orders that sold (not canceled or unavailable), with their order's purchase time."""
    sold = orders.where(~F.col("order_status").isin(*NOT_SOLD))
    return items.join(sold.select("order_id", "order_purchase_timestamp"), "order_id")


def product_segments(items: DataFrame, categories: DataFrame) -> DataFrame:
    """BCG-style segments: each sold product's average price and order count against the median
    product's. Above both: Star; price only: Niche; orders only: Volume; neither: Question mark.
    items: sold_items(...)."""
    products = items.groupBy("product_id").agg(
        F.count_distinct("order_id").alias("orders"),
        F.count(F.lit(1)).alias("items"),
        F.round(F.avg("price"), 2).cast("decimal(12,2)").alias("avg_price"),
        F.sum("price").cast("decimal(18,2)").alias("revenue"),
    )
    medians = products.agg(
        F.median("avg_price").alias("median_price"), F.median("orders").alias("median_orders")
    )
    high_price = F.col("avg_price") > F.col("median_price")
    high_orders = F.col("orders") > F.col("median_orders")
    segment = (
        F.when(high_price & high_orders, "Star")
        .when(high_price, "Niche")
        .when(high_orders, "Volume")
        .otherwise("Question mark")
    )
    return (
        products.crossJoin(medians)
        .join(categories, "product_id", "left")
        .select(
            "product_id",
            F.coalesce("category", F.lit(UNKNOWN)).alias("category"),
            "orders", "items", "avg_price", "revenue",
            segment.alias("segment"),
        )
    )  # fmt: skip


def monthly_sales(items: DataFrame) -> DataFrame:
    """Per month of purchase: orders, items, revenue (item prices), freight, average order value.
    items: sold_items(...)."""
    month = F.trunc("order_purchase_timestamp", "month").alias("month")
    return (
        items.groupBy(month)
        .agg(
            F.count_distinct("order_id").alias("orders"),
            F.count(F.lit(1)).alias("items"),
            F.sum("price").cast("decimal(18,2)").alias("revenue"),
            F.sum("freight_value").cast("decimal(18,2)").alias("freight"),
        )
        .withColumn("avg_order_value", (F.col("revenue") / F.col("orders")).cast("decimal(12,2)"))
    )
