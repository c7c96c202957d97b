"""Data quality of one day of shopping events: checks over bronze, silver and the dead letters.

Spark SQL aggregates, one pass per table: the data-quality libraries that run on Spark either have
no build for Spark 4.1 (pydeequ's deequ jars stop at 3.5) or pull a framework of their own into
the drivers' virtualenv for what is a handful of ratios here.

Every check gives (check, observed, threshold, passed); `passed` is observed <= threshold except
for `rows`, the day's minimum. The batch writes all of them to lake.gold.dq_results and fails
on any that did not pass, naming it.
"""

from dataclasses import dataclass, field
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.batch.day import Day

# Share of nulls a column may have. The first six are required of every event; category is null
# only where the source has none (REES46 imports).
NULL_RATIO = {
    "event_id": 0.0,
    "event_type": 0.0,
    "user_id": 0.0,
    "session_id": 0.0,
    "timestamp": 0.0,
    "source": 0.0,
    "category": 0.1,
}
# Present on every event but searches.
REQUIRED_UNLESS_SEARCH = ("product_id", "price")


@dataclass(frozen=True)
class Thresholds:
    null_ratio: dict[str, float] = field(default_factory=lambda: dict(NULL_RATIO))
    duplicate_share: float = 0.0  # bronze rows repeating an event_id (the producer is idempotent)
    invalid_time_share: float = 0.0  # after the run, or over an hour ahead of its Kafka record
    dead_letter_share: float = 0.01  # of the day's shopping events that reached the stream
    unreconciled: float = 0.0  # |distinct event_ids in bronze - rows in silver|
    min_rows: float = 1.0  # an empty day fails: the stream or the generator was down


@dataclass(frozen=True)
class CheckResult:
    check: str
    observed: float
    threshold: float
    passed: bool

    def __str__(self) -> str:
        return f"{self.check}: observed {self.observed:g}, threshold {self.threshold:g}"


def _share(condition: Column) -> Column:
    return F.coalesce(F.avg(condition.cast("double")), F.lit(0.0))


def dead_letters_of_day(dead: DataFrame, topic: str, day: Day) -> DataFrame:
    """The topic's dead letters whose record names a time in the day (a record too broken to
    name one cannot be given a day, and is counted on none)."""
    text = F.col("value").cast("string")
    ts = F.try_to_timestamp(F.get_json_object(text, "$.timestamp"))  # no time: null, not an error
    mine = (F.col("intended_topic") == topic) | (F.col("kafka_topic") == topic)
    return dead.where(mine).where(day.contains(ts))


def checks(
    bronze: DataFrame,
    silver: DataFrame,
    dead: DataFrame,
    now: datetime,
    limits: Thresholds | None = None,
) -> list[CheckResult]:
    """The day's checks: bronze, silver and dead letters already limited to the day."""
    limits = limits or Thresholds()
    not_search = F.col("event_type") != "search"
    silver_aggs = [F.count(F.lit(1)).alias("rows")]
    silver_aggs += [_share(F.col(c).isNull()).alias(f"null:{c}") for c in limits.null_ratio]
    silver_aggs += [
        F.coalesce(F.avg(F.when(not_search, F.col(c).isNull().cast("double"))), F.lit(0.0)).alias(
            f"required:{c}"
        )
        for c in REQUIRED_UNLESS_SEARCH
    ]
    ahead = F.col("timestamp") > F.col("_kafka_timestamp") + F.expr("INTERVAL 60 MINUTES")
    silver_aggs.append(_share((F.col("timestamp") > F.lit(now)) | ahead).alias("invalid_time"))
    s = silver.agg(*silver_aggs).first().asDict()
    b = bronze.agg(
        F.count(F.lit(1)).alias("rows"), F.count_distinct("event_id").alias("ids")
    ).first()
    dead_rows = dead.count()
    results = [CheckResult("rows", s["rows"], limits.min_rows, s["rows"] >= limits.min_rows)]

    def at_most(check: str, observed: float, threshold: float) -> None:
        results.append(CheckResult(check, round(observed, 6), threshold, observed <= threshold))

    for column, threshold in limits.null_ratio.items():
        at_most(f"null_ratio:{column}", s[f"null:{column}"], threshold)
    for column in REQUIRED_UNLESS_SEARCH:
        at_most(f"required:{column}", s[f"required:{column}"], 0.0)
    at_most("timestamp_valid", s["invalid_time"], limits.invalid_time_share)
    at_most("duplicate_event_ids", (b.rows - b.ids) / b.rows if b.rows else 0.0,
            limits.duplicate_share)  # fmt: skip
    reaching = b.rows + dead_rows
    at_most("dead_letter_share", dead_rows / reaching if reaching else 0.0,
            limits.dead_letter_share)  # fmt: skip
    at_most("bronze_silver_reconcile", abs(b.ids - s["rows"]), limits.unreconciled)
    return results
