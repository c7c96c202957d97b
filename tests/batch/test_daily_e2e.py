"""The batch DAGs end to end on the platform: a generated day through Kafka and the stream into
silver, then `daily_analytics` triggered through Airflow's REST API, as a user or a scheduler
would, and its gold rows checked against the generated file; the Olist fixture replayed as CDC
and `olist_analytics` checked against the CSV files; `lake_maintenance` for one table.

Each run takes shop days (KST) no earlier run filled, so it passes on a platform used for days.
"""

import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote
from urllib.request import urlopen
from zoneinfo import ZoneInfo

import pytest
from pyiceberg.expressions import In

from jobs.batch import daily, report
from jobs.streaming.gold import NO_CATEGORY
from sdp.platform import settings
from sdp.platform.checks import (
    kafka_bootstrap,
    kafka_login_env,
    minio_console_url,
    serving_connection,
)
from sdp.platform.dag_runs import Airflow
from tests.batch import olist_csv
from tests.batch.test_olist import FIXTURE
from tests.conftest import needs_container_hosts, sdp
from tests.streaming.test_stream_e2e import (
    as_messages,
    between,
    check_gold_revenue,
    generate,
    produce,
    reconcile,
)

pytestmark = [pytest.mark.integration, needs_container_hosts]

DAG = "daily_analytics"
SEOUL = ZoneInfo("Asia/Seoul")
FIRST_DAY = date(2023, 3, 1)  # test days are taken from here on, each once


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), SEOUL)


def empty_days(lake, n: int, first: date = FIRST_DAY) -> list[date]:
    """The first n days from `first` with no shopping event in silver."""
    silver = lake.load_table("silver.shopping_events")
    found, day = [], first
    while len(found) < n:
        start, end = (midnight(d).astimezone(ZoneInfo("UTC")) for d in (day, day + timedelta(1)))
        rows = silver.scan(
            row_filter=between("timestamp", start, end),
            selected_fields=("event_id",),
            limit=1,
        ).to_arrow()
        if len(rows) == 0:
            found.append(day)
        day += timedelta(days=1)
    return found


def land_day(platform, tmp_path, day: date, seed: int, count: int, twice: int = 0) -> list[dict]:
    """A generated day in Kafka (its first `twice` shopping events sent again), landed."""
    produced = generate(tmp_path, f"day-{day}", count, midnight(day), seed, rate=2)
    again = [r for r in produced if r["topic"] == "shopping-events"][:twice]
    produce(platform, as_messages(produced + again))
    reconcile()
    return produced


@pytest.fixture(scope="module")
def airflow(platform) -> Iterator[Airflow]:
    with Airflow(platform) as airflow:  # the DAGs it found paused, paused again
        yield airflow


def now() -> datetime:
    """A logical date no earlier run has: DAGs whose date selects nothing run on it."""
    return datetime.now(ZoneInfo("UTC"))


def gold(lake, table: str, day: date) -> list[dict]:
    rows = lake.load_table(f"gold.{table}").scan(row_filter=f"day = '{day}'").to_arrow()
    return sorted(rows.to_pylist(), key=lambda r: tuple(str(v) for v in r.values()))


def test_a_generated_day_gives_its_revenue_and_a_rerun_the_same_rows(
    platform, lake, airflow, tmp_path
):
    day, duplicated = empty_days(lake, 2)
    produced = land_day(platform, tmp_path, day, seed=day.toordinal(), count=3000)
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for e in (r["value"] for r in produced if r["topic"] == "shopping-events"):
        local = datetime.fromisoformat(e["timestamp"]).astimezone(SEOUL).date()
        if e["event_type"] == "purchase" and local == day:
            expected[e["category"] or NO_CATEGORY] += Decimal(str(e["price"]))
    assert expected, "the generated day has purchases"
    ratings = Counter(
        r["value"]["rating"] for r in produced if r["topic"] == "reviews"
        and datetime.fromisoformat(r["value"]["created_at"]).astimezone(SEOUL).date() == day
    )  # fmt: skip
    assert ratings, "the generated day has reviews"

    run_id = f"e2e-{day}-{int(time.time())}"
    run = airflow.run(DAG, run_id, midnight(day))
    assert run["state"] == "success", run["tasks"]
    # Once the stream has seen newer events (any earlier test's), this day's came late: in
    # silver, in no gold window, until repair_gold_windows recomputed the day's windows.
    with serving_connection(platform) as serving:
        check_gold_revenue(lake, serving, produced)
    sales = gold(lake, "daily_sales", day)
    assert {r["category"]: r["revenue"] for r in sales} == dict(expected)
    metrics = {r["metric"]: r["value"] for r in gold(lake, "daily_metrics", day)}
    assert metrics["revenue"] == pytest.approx(float(sum(expected.values())))
    assert all(r["passed"] for r in gold(lake, "dq_results", day))
    assert {r["rating"]: r["reviews"] for r in gold(lake, "daily_ratings", day)} == ratings
    aspects = gold(lake, "daily_review_aspects", day)
    assert aspects and all(r["mentions"] == r["positive"] + r["negative"] + r["neutral"]
                           for r in aspects)  # fmt: skip
    assert sum(r["reviews"] for r in gold(lake, "daily_product_ratings", day)) == ratings.total()
    # Each gold table's day, copied to serving for the dashboards (Superset's Daily analytics).
    with serving_connection(platform) as serving:
        for table in sorted(daily.SORT):
            name = table.rsplit(".", 1)[-1]
            count = f"SELECT count(*) FROM serving.{name} WHERE day = %s"
            assert serving.execute(count, (day,)).fetchone()[0] == len(gold(lake, name, day)), name
        served = "SELECT category, revenue FROM serving.daily_sales WHERE day = %s"
        assert dict(serving.execute(served, (day,)).fetchall()) == dict(expected)
    # The page export_report wrote to MinIO, as a user downloads it.
    page = tmp_path / "report.html"
    got = sdp("report", "get", str(day), "-o", str(page))
    assert got.returncode == 0, got.stderr
    html = page.read_text(encoding="utf-8")
    assert f"Shop day {day}" in html and html.count("<svg") >= 5
    assert report.number(float(sum(expected.values()))) in html  # the headline's revenue
    assert "every check passed" in html
    # The run links the page: export_report's button opens it in the MinIO console.
    links = airflow(f"dags/{DAG}/dagRuns/{run_id}/taskInstances/export_report/links")
    bucket, key = report.location(settings.platform("sdp_bucket_prefix"), day)
    link = f"{minio_console_url(platform)}/browser/{bucket}/{quote(key, safe='')}"
    assert links["extra_links"] == {"Report in MinIO": link}
    with urlopen(link, timeout=10) as console:  # the console's page (login, then the object)
        assert b"MinIO Console" in console.read()

    # Re-running the date's sales task replaces its rows with the same (alone: the tasks after
    # it would re-run the same way, at some 25 s each of the suite's time).
    funnel = gold(lake, "daily_funnel", day)
    cleared = airflow(f"dags/{DAG}/clearTaskInstances", "POST", {
        "dag_run_id": run_id, "task_ids": ["aggregate_daily_sales"], "include_downstream": False,
        "only_failed": False, "dry_run": False, "reset_dag_runs": True,
    })  # fmt: skip
    assert [t["task_id"] for t in cleared["task_instances"]] == ["aggregate_daily_sales"]
    rerun = airflow.wait(DAG, run_id, 600)
    assert rerun["state"] == "success", rerun["tasks"]
    assert rerun["tries"]["aggregate_daily_sales"] == 2
    assert gold(lake, "daily_sales", day) == sales
    assert gold(lake, "daily_funnel", day) == funnel

    # A day whose events arrived twice fails at its first task, naming the check.
    land_day(platform, tmp_path, duplicated, seed=duplicated.toordinal(), count=500, twice=40)
    failed_id = f"e2e-dup-{duplicated}-{int(time.time())}"
    failed = airflow.run(DAG, failed_id, midnight(duplicated))
    assert failed["state"] == "failed"
    assert failed["tasks"]["check_data_quality"][0] == "failed"
    assert failed["tasks"]["aggregate_daily_sales"][0] == "upstream_failed"
    log = airflow(
        f"dags/{DAG}/dagRuns/{failed_id}/taskInstances/check_data_quality/logs/1?full_content=true"
    )
    assert "duplicate_event_ids: observed" in str(log)
    dq = {r["check"]: r["passed"] for r in gold(lake, "dq_results", duplicated)}
    assert dq["duplicate_event_ids"] is False


def test_lake_maintenance_expires_the_stream_snapshots_of_a_table(platform, lake, airflow):
    """The stream appends to its batch log every trigger: a manual run of lake_maintenance for
    that table leaves no snapshot older than an hour beyond the last 100 (the retained ones)."""
    table, dag = "lake.ops.stream_batches", "lake_maintenance"
    before = len(lake.load_table(table.removeprefix("lake.")).snapshots())
    cutoff = (time.time() - 3600) * 1000  # the run's own cutoff is later
    run_id = f"e2e-maintenance-{int(time.time())}"
    run = airflow.run(dag, run_id, now(), {"tables": [table], "snapshot_hours": 1})
    assert run["state"] == "success", run["tasks"]
    log = airflow(f"dags/{dag}/dagRuns/{run_id}/taskInstances/maintain_tables/logs/1"
                  "?full_content=true")  # fmt: skip
    assert f"MAINTAINED {table} " in str(log)
    snapshots = lake.load_table(table.removeprefix("lake.")).snapshots()
    older = [s for s in snapshots if s.timestamp_ms < cutoff]
    print(
        f"{table}: {before} snapshots before, {len(snapshots)} after, {len(older)} older than 1 h"
    )
    assert len(older) <= 100, "older than an hour, only the last 100 may stay"


def test_olist_analytics_gives_the_late_deliveries_of_the_replayed_orders(
    platform, lake, airflow, tmp_path
):
    """The fixture's orders replayed (again, on a used platform: the same keys and versions),
    then the DAG: their late flags and late share in gold equal the CSVs', and the dashboards'
    copies in PostgreSQL equal gold."""
    got = sdp("replay", "olist", "--dir", str(FIXTURE), "--bootstrap", kafka_bootstrap(platform),
              "--speed", "0", "--state", str(tmp_path / "state.json"),
              env={**os.environ, **kafka_login_env(platform)})  # fmt: skip
    assert got.returncode == 0, got.stderr
    reconcile()
    dag, run_id = "olist_analytics", f"e2e-olist-{int(time.time())}"
    run = airflow.run(dag, run_id, now())
    assert run["state"] == "success", run["tasks"]

    late = olist_csv.late_orders(FIXTURE)
    rows = lake.load_table("gold.olist_order_delivery").scan(
        row_filter=In("order_id", list(late)), selected_fields=("order_id", "late")
    ).to_arrow().to_pylist()  # fmt: skip
    assert {r["order_id"]: r["late"] for r in rows} == late
    print(f"fixture: {sum(late.values())} of {len(late)} delivered orders late")
    monthly = lake.load_table("gold.olist_monthly_sales").scan().to_arrow().to_pylist()
    months = {r["month"].strftime("%Y-%m"): r["revenue"] for r in monthly}
    # Other replays may have added orders to a month, never taken any away.
    assert all(months[m] >= v for m, v in olist_csv.monthly_revenue(FIXTURE).items())

    def served(conn, table: str) -> set[tuple]:
        return set(conn.execute(f"SELECT state, delivered, late FROM serving.{table}").fetchall())

    gold = lake.load_table("gold.olist_delivery_by_state").scan().to_arrow().to_pylist()
    with serving_connection(platform) as conn:
        assert served(conn, "olist_delivery_by_state") == {
            (r["state"], r["delivered"], r["late"]) for r in gold
        }
        segments = conn.execute("SELECT count(*) FROM serving.olist_product_segments").fetchone()
    assert segments[0] >= len({i["product_id"] for i in olist_csv.sold_items(FIXTURE)})
