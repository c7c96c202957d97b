"""Gold: 5-minute windows computed from silver rows. Pure transforms of DataFrames.

Each function takes silver rows of the windows to (re)compute and returns one row per key; the
stream recomputes a window from all of its silver rows and upserts it, so a replayed batch, a
late event or a restart gives the same rows again.
"""

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.streaming.config import CATALOG, WINDOW

TOP_N = 10
NO_CATEGORY = "(none)"


@dataclass(frozen=True)
class GoldTable:
    name: str
    key: tuple[str, ...]  # window_start and these identify a row

    @property
    def fqn(self) -> str:
        return f"{CATALOG}.gold.{self.name}"


SALES_BY_CATEGORY = GoldTable("sales_by_category", ("category",))
TOP_PRODUCTS = GoldTable("top_products", ("metric", "rank"))
EVENT_COUNTS = GoldTable("event_counts", ("event_type",))
SESSION_METRICS = GoldTable("session_metrics", ())
SEARCH_TERMS = GoldTable("search_terms", ("rank",))


def window_start(time: Column) -> Column:
    return F.window(time, WINDOW).start


def _windowed(df: DataFrame, time: str) -> DataFrame:
    w = F.window(time, WINDOW)
    return df.withColumn("window_start", w.start).withColumn("window_end", w.end)


def sales_by_category(events: DataFrame) -> DataFrame:
    purchases = _windowed(events.where(F.col("event_type") == "purchase"), "timestamp")
    return purchases.groupBy(
        "window_start", "window_end", F.coalesce("category", F.lit(NO_CATEGORY)).alias("category")
    ).agg(
        F.count(F.lit(1)).alias("purchases"),
        F.sum("price").cast("decimal(18,2)").alias("revenue"),
        F.max("timestamp").alias("last_event_time"),
    )


def top_products(events: DataFrame, n: int = TOP_N) -> DataFrame:
    """Per window the n products with the most revenue and the n with the most views."""
    windowed = _windowed(events.where(F.col("product_id").isNotNull()), "timestamp")
    per_product = windowed.groupBy("window_start", "window_end", "product_id").agg(
        F.sum(F.when(F.col("event_type") == "purchase", F.col("price"))).alias("revenue"),
        F.count(F.when(F.col("event_type") == "view", 1)).cast("decimal(18,2)").alias("views"),
        F.max("timestamp").alias("last_event_time"),
    )
    ranked = []
    for metric in ("revenue", "views"):
        candidates = per_product.where(F.col(metric) > 0)
        order = Window.partitionBy("window_start").orderBy(F.desc(metric), "product_id")
        ranked.append(
            candidates.select(
                "window_start",
                "window_end",
                F.lit(metric).alias("metric"),
                F.row_number().over(order).alias("rank"),
                "product_id",
                F.col(metric).cast("decimal(18,2)").alias("value"),
                "last_event_time",
            ).where(F.col("rank") <= n)
        )
    return ranked[0].unionByName(ranked[1])


def event_counts(events: DataFrame) -> DataFrame:
    return (
        _windowed(events, "timestamp")
        .groupBy("window_start", "window_end", "event_type")
        .agg(F.count(F.lit(1)).alias("events"), F.max("timestamp").alias("last_event_time"))
    )


def session_metrics(sessions: DataFrame) -> DataFrame:
    """Per window of session start: sessions, mean duration and length, conversion, bounces."""
    types = F.col("events.event_type")
    with_stats = _windowed(sessions, "started_at").select(
        "window_start",
        "window_end",
        "started_at",
        (F.unix_timestamp("ended_at") - F.unix_timestamp("started_at")).alias("duration_s"),
        F.size("events").alias("length"),
        F.array_contains(types, "purchase").alias("converted"),
    )
    return with_stats.groupBy("window_start", "window_end").agg(
        F.count(F.lit(1)).alias("sessions"),
        F.round(F.avg("duration_s"), 2).alias("avg_duration_s"),
        F.round(F.avg("length"), 2).alias("avg_events"),
        F.round(F.avg(F.col("converted").cast("double")), 4).alias("conversion_rate"),
        F.round(F.avg((F.col("length") == 1).cast("double")), 4).alias("bounce_rate"),
        F.max("started_at").alias("last_event_time"),
    )


def search_terms(searches: DataFrame, n: int = TOP_N) -> DataFrame:
    """Per window the n most searched queries (as typed, trimmed and lower-cased)."""
    per_query = (
        _windowed(searches, "timestamp")
        .withColumn("query", F.lower(F.trim("query")))
        .groupBy("window_start", "window_end", "query")
        .agg(F.count(F.lit(1)).alias("searches"), F.max("timestamp").alias("last_event_time"))
    )
    order = Window.partitionBy("window_start").orderBy(F.desc("searches"), "query")
    return per_query.select(
        "window_start",
        "window_end",
        F.row_number().over(order).alias("rank"),
        "query",
        "searches",
        "last_event_time",
    ).where(F.col("rank") <= n)


def changed_windows(recomputed: DataFrame, gold: DataFrame) -> DataFrame:
    """window_start of each window whose rows recomputed from silver differ from gold's (a row
    more, a row less or another value), bookkeeping columns such as updated_at aside."""
    gold = gold.select(*recomputed.columns)
    differ = recomputed.exceptAll(gold).unionByName(gold.exceptAll(recomputed))
    return differ.select("window_start").distinct()


# Which silver table feeds which gold tables, and how.
GOLD_FROM_TOPIC = {
    "shopping-events": [
        (SALES_BY_CATEGORY, sales_by_category),
        (TOP_PRODUCTS, top_products),
        (EVENT_COUNTS, event_counts),
    ],
    "sessions": [(SESSION_METRICS, session_metrics)],
    "search-queries": [(SEARCH_TERMS, search_terms)],
}
