"""The daily batch on real Iceberg tables: generated days landed by the stream's own micro-batch
writer (the in-memory catalog of tests/conftest.py), then the DAG's jobs over them, checked
against sums computed here from the generated records."""

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pyspark.sql import functions as F

from generator.catalog import load_catalog
from generator.simulator import Simulator
from jobs.batch import daily, quality, report
from jobs.batch.day import Day
from jobs.streaming.config import StreamSettings
from jobs.streaming.gold import NO_CATEGORY
from jobs.streaming.main import gold_examples
from jobs.streaming.spec import build_spec
from jobs.streaming.tables import ensure_tables
from tests.streaming.conftest import kafka_rows, values_by_topic

SEOUL = ZoneInfo("Asia/Seoul")
# Other tests' rows are in May and on 2024-06-01, on Kafka partitions below 10.
CLEAN_DAY = date(2024, 6, 10)
DUPLICATED_DAY = date(2024, 6, 12)
REPAIR_DAY = date(2024, 6, 14)


def simulate(day: date, seed: int, steps: int) -> list[tuple]:
    """Generated records from 23:00 of the day before (KST) on: some fall outside the day."""
    start = datetime.combine(day, datetime.min.time(), SEOUL) - timedelta(hours=1)
    sim = Simulator(load_catalog(), seed=seed, start=int(start.timestamp()), rate=20, speed=600)
    records = [r for _ in range(steps) for r in sim.step()]
    return records + sim.close_sessions()


def land(spark, spec, records, partition: int, query: str, batch_id: int = 0) -> None:
    """Through the stream's BatchWriter, Kafka records stamped the day after everything."""
    from jobs.streaming.batch import BatchWriter

    settings = StreamSettings(bootstrap="unused:9092", checkpoint="/unused", query_name=query)
    ensure_tables(spark, spec, settings, gold_examples(spark, spec))
    at = datetime(2024, 7, 1, tzinfo=UTC)
    kafka = None
    for topic, values in values_by_topic(records).items():
        rows = kafka_rows(spark, topic, values, partition, at)
        kafka = rows if kafka is None else kafka.unionByName(rows)
    BatchWriter(spark, spec, settings, serving=None)(kafka, batch_id)


def in_day(record: dict, day: date) -> bool:
    return datetime.fromisoformat(record["timestamp"]).astimezone(SEOUL).date() == day


def purchases(records, day: date) -> list[dict]:
    return [
        r[2] for r in records
        if r[0] == "shopping-events" and r[2]["event_type"] == "purchase" and in_day(r[2], day)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "streams.json"
    path.write_text(json.dumps(build_spec()))
    return path


@pytest.fixture(scope="module")
def clean_day(spark, stream_spec, spec_file):
    records = simulate(CLEAN_DAY, seed=21, steps=3000)
    land(spark, stream_spec, records, partition=17, query="batch-clean")
    return records, daily.Batch(spark, spec_file, Day(CLEAN_DAY, "Asia/Seoul"), "sdp-")


def table_rows(spark, table: str, day: date) -> list[tuple]:
    rows = spark.table(f"lake.gold.{table}").where(f"day = DATE'{day}'").drop("checked_at")
    return sorted(tuple(r) for r in rows.collect())


def test_a_day_is_midnight_to_midnight_in_the_shop_zone():
    day = Day.parse("2024-06-10", "Asia/Seoul")
    assert (day.start, day.end) == (datetime(2024, 6, 9, 15), datetime(2024, 6, 10, 15))
    with pytest.raises(ValueError, match="--date: '2024-13-01'"):
        Day.parse("2024-13-01", "Asia/Seoul")
    with pytest.raises(ValueError, match="--zone: 'Mars/Olympus'"):
        Day.parse("2024-06-10", "Mars/Olympus")


def test_a_clean_day_passes_every_check_and_records_them(spark, clean_day):
    _, batch = clean_day
    batch.quality()
    results = table_rows(spark, "dq_results", CLEAN_DAY)
    checks = {r[1]: r[4] for r in results}
    assert {"rows", "duplicate_event_ids", "bronze_silver_reconcile", "dead_letter_share",
            "timestamp_valid", "null_ratio:user_id", "required:price"} <= set(checks)  # fmt: skip
    assert all(checks.values()), results


def test_daily_sales_equal_the_generated_purchases_and_a_rerun_gives_the_same_rows(
    spark, clean_day
):
    records, batch = clean_day
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for p in purchases(records, CLEAN_DAY):
        expected[p["category"] or NO_CATEGORY] += Decimal(str(p["price"]))
    assert expected, "the generated day has purchases"
    batch.sales()
    first = table_rows(spark, "daily_sales", CLEAN_DAY)
    assert {r[1]: r[3] for r in first} == dict(expected)
    traffic = table_rows(spark, "daily_traffic", CLEAN_DAY)
    events = [r for r in records if r[0] == "shopping-events" and in_day(r[2], CLEAN_DAY)]
    assert sum(r[3] for r in traffic) == len(events)
    assert {r[1] for r in traffic} <= set(range(24))
    hourly = table_rows(spark, "daily_hourly_sales", CLEAN_DAY)
    assert sum(r[3] for r in hourly) == sum(expected.values())
    batch.sales()
    assert table_rows(spark, "daily_sales", CLEAN_DAY) == first


def test_metrics_of_the_day(spark, clean_day):
    records, batch = clean_day
    batch.metrics()
    got = {r[1]: r[2] for r in table_rows(spark, "daily_metrics", CLEAN_DAY)}
    bought = purchases(records, CLEAN_DAY)
    revenue = sum(Decimal(str(p["price"])) for p in bought)
    assert got["orders"] == len(bought)
    assert got["revenue"] == pytest.approx(float(revenue))
    assert got["average_order_value"] == pytest.approx(float(revenue) / len(bought), abs=0.01)
    per_buyer = defaultdict(int)
    for p in bought:
        per_buyer[p["user_id"]] += 1
    again = sum(1 for n in per_buyer.values() if n >= 2)
    assert got["repurchase_rate"] == round(again / len(per_buyer), 4)
    assert 0 < got["conversion_rate"] < 1 and got["sessions"] > 0


def test_a_day_with_duplicated_events_fails_quality_naming_the_check(spark, stream_spec, spec_file):
    records = simulate(DUPLICATED_DAY, seed=22, steps=600)
    land(spark, stream_spec, records, partition=18, query="batch-dup")
    events = [r for r in records if r[0] == "shopping-events" and in_day(r[2], DUPLICATED_DAY)]
    land(spark, stream_spec, events[:50], partition=19, query="batch-dup-again")
    batch = daily.Batch(spark, spec_file, Day(DUPLICATED_DAY, "Asia/Seoul"), "sdp-")
    with pytest.raises(
        daily.QualityFailed, match=r"duplicate_event_ids: observed 0\.\d+, threshold 0"
    ):
        batch.quality()
    failed = [r[1] for r in table_rows(spark, "dq_results", DUPLICATED_DAY) if not r[4]]
    assert failed == ["duplicate_event_ids"]


def test_checks_name_nulls_future_times_and_dead_letters(spark):
    day = Day(CLEAN_DAY, "Asia/Seoul")
    t = day.start + timedelta(hours=3)
    cols = (
        "event_id string, event_type string, user_id string, session_id string, "
        "product_id string, category string, price decimal(12,2), timestamp timestamp, "
        "source string, _kafka_timestamp timestamp"
    )
    rows = [
        ("e1", "view", "u1", "s1", "P1", "c", Decimal(1), t, "generator", t),
        ("e2", "view", None, "s1", "P1", "c", Decimal(1), t, "generator", t),
        ("e3", "purchase", "u1", "s1", None, "c", Decimal(1), t, "generator", t),
        ("e4", "search", "u1", "s1", None, "c", None, t + timedelta(hours=2), "generator", t),
    ]
    events = spark.createDataFrame(rows, cols)
    dead = spark.createDataFrame([(b"x",)], "value binary")
    results = quality.checks(events, events, dead, now=t + timedelta(hours=1))
    failed = {r.check: r.observed for r in results if not r.passed}
    assert failed == {
        "null_ratio:user_id": 0.25,
        "required:product_id": round(1 / 3, 6),
        "timestamp_valid": 0.25,
        "dead_letter_share": 0.2,
    }


def test_the_report_page_shows_the_days_gold_rows(spark, clean_day):
    """After the day's jobs (sales, metrics above; no reviews table for it yet), the page has a
    chart per section, the day's revenue, and says where nothing was written."""
    records, batch = clean_day
    batch.quality()
    page = batch.report_page()
    revenue = sum(Decimal(str(p["price"])) for p in purchases(records, CLEAN_DAY))
    assert page.startswith("<!doctype html>") and f"Shop day {CLEAN_DAY}" in page
    for title in ("Revenue by hour", "Revenue by category", "Funnel", "Top 10 products",
                  "Review aspects", "Ratings", "Data quality"):  # fmt: skip
        assert f"<h2>{title}" in page
    assert page.count("<svg") >= 3  # hours, categories, funnel
    assert report.number(float(revenue)) in page  # the headline's revenue
    assert "every check passed" in page


def window_revenue(spark, day: Day) -> dict[tuple, Decimal]:
    rows = spark.table("lake.gold.sales_by_category").where(day.contains(F.col("window_start")))
    return {(r.window_start, r.category): r.revenue for r in rows.collect()}


def test_repair_replaces_the_gold_windows_late_events_changed(
    spark, stream_spec, spec_file, capsys
):
    """Events that arrive after the stream closed their window are in silver, not in gold; the
    day's repair recomputes that window (and only that one) from silver."""
    day = Day(REPAIR_DAY, "Asia/Seoul")
    records = simulate(REPAIR_DAY, seed=23, steps=600)
    land(spark, stream_spec, records, partition=20, query="batch-repair")
    first = min((r for r in purchases(records, REPAIR_DAY)), key=lambda p: p["timestamp"])
    late = [("shopping-events", None, {**first, "event_id": f"late-{i}", "price": 1000 + i})
            for i in range(3)]  # fmt: skip
    land(spark, stream_spec, late, partition=21, query="batch-repair", batch_id=1)
    window = datetime.fromisoformat(first["timestamp"]).astimezone(UTC).replace(tzinfo=None)
    window -= timedelta(minutes=window.minute % 5, seconds=window.second,
                        microseconds=window.microsecond)  # fmt: skip
    key = (window, first["category"] or NO_CATEGORY)
    before = window_revenue(spark, day)
    expected = before | {key: before[key] + 3003}
    capsys.readouterr()

    daily.Batch(spark, spec_file, day, "sdp-").repair()
    assert window_revenue(spark, day) == expected, "the late window repaired, no other changed"
    assert "REPAIRED lake.gold.sales_by_category 2024-06-14 windows=1" in capsys.readouterr().out
    daily.Batch(spark, spec_file, day, "sdp-").repair()
    assert "sales_by_category 2024-06-14 windows=0" in capsys.readouterr().out
