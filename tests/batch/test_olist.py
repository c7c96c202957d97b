"""The Olist analytics on real Iceberg tables: the fixture's orders replayed as CDC (`sdp replay
olist`) and landed by the stream's own micro-batch writer, then the DAG's jobs over silver,
checked against the same numbers computed from the CSV files (tests/batch/olist_csv.py)."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from jobs.batch import olist_analytics
from jobs.streaming.config import StreamSettings
from jobs.streaming.main import gold_examples
from jobs.streaming.spec import build_spec
from jobs.streaming.tables import ensure_tables
from tests.batch import olist_csv
from tests.conftest import sdp
from tests.streaming.conftest import kafka_rows

FIXTURE = Path(__file__).parents[1] / "fixtures" / "olist"


def replayed(folder: Path, tmp: Path) -> list[dict]:
    """The folder's tables as the CDC records `sdp replay olist` publishes, unpaced."""
    out = tmp / "olist.jsonl"
    got = sdp("replay", "olist", "--dir", str(folder), "--out", str(out), "--speed", "0",
              "--state", str(tmp / "state.json"))  # fmt: skip
    assert got.returncode == 0, got.stderr
    return [orjson.loads(line) for line in out.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def job(spark, stream_spec, tmp_path_factory):
    from jobs.streaming.batch import BatchWriter

    tmp = tmp_path_factory.mktemp("olist")
    settings = StreamSettings(bootstrap="unused:9092", checkpoint="/unused", query_name="olist")
    ensure_tables(spark, stream_spec, settings, gold_examples(spark, stream_spec))
    by_topic: dict[str, list[bytes]] = {}
    for r in replayed(FIXTURE, tmp):
        by_topic.setdefault(r["topic"], []).append(orjson.dumps(r["value"]))
    kafka = None
    for topic, values in by_topic.items():
        rows = kafka_rows(spark, topic, values, 0, datetime(2024, 7, 1, tzinfo=UTC))
        kafka = rows if kafka is None else kafka.unionByName(rows)
    BatchWriter(spark, stream_spec, settings, serving=None)(kafka, 0)
    spec = tmp / "streams.json"
    spec.write_text(json.dumps(build_spec()))
    return olist_analytics.OlistAnalytics(spark, spec, "sdp-", serving=None)


def gold(spark, name: str) -> list[dict]:
    return [r.asDict() for r in spark.table(f"lake.gold.olist_{name}").collect()]


def test_late_deliveries_by_order_and_state_equal_the_csvs(spark, job):
    job.delivery()
    late = olist_csv.late_orders(FIXTURE)
    assert 0 < sum(late.values()) < len(late), "the fixture has late and punctual deliveries"
    orders = gold(spark, "order_delivery")
    assert len(orders) == len(olist_csv.read(FIXTURE, "orders"))
    assert {r["order_id"]: r["late"] for r in orders if r["delivered_at"]} == late
    state = olist_csv.states(FIXTURE)
    by_state = {r["state"]: r for r in gold(spark, "delivery_by_state")}
    for name, row in by_state.items():
        mine = [late[o] for o in late if state[o] == name]
        assert (row["delivered"], row["late"]) == (len(mine), sum(mine))
        assert row["late_share"] == round(sum(mine) / len(mine), 4)
    assert sum(r["delivered"] for r in by_state.values()) == len(late)
    lead = {r["status"]: r for r in gold(spark, "status_lead_times")}
    assert lead["delivered"]["orders"] == len(late)
    medians = [lead[s]["p50_days"] for s in ("approved", "shipped", "delivered")]
    assert medians == sorted(medians)
    job.delivery()  # a re-run gives the same rows
    assert sorted(gold(spark, "delivery_by_state"), key=str) == sorted(by_state.values(), key=str)


def test_segments_and_monthly_sales_equal_the_csvs(spark, job):
    job.segments()
    segments = {r["product_id"]: r["segment"] for r in gold(spark, "product_segments")}
    assert segments == olist_csv.segments(FIXTURE)
    assert len(set(segments.values())) >= 2, "the fixture's products fall in several segments"
    job.monthly()
    monthly = {r["month"].strftime("%Y-%m"): r["revenue"] for r in gold(spark, "monthly_sales")}
    assert monthly == olist_csv.monthly_revenue(FIXTURE)
    assert all(isinstance(v, Decimal) for v in monthly.values())
