"""Every query of every Grafana dashboard, run against the live Prometheus and PostgreSQL while
the generator and the stream run: each must return data. The list of what ran, with the
number of series or rows each returned, goes to $SDP_CACHE/work/reports/dashboard-queries.txt.
Every Superset dashboard, opened in a headless Chromium at the same time: each chart must draw
its data; the screenshots go to $SDP_CACHE/work/reports/superset-SLUG.png."""

import json
import os
import re
import shutil
import time
from datetime import UTC, datetime

import pytest

from sdp.dashboards.cli import GRAFANA_DIR
from sdp.dashboards.grafana import DASHBOARDS, PROMETHEUS, queries
from sdp.dashboards.superset import DASHBOARDS as SUPERSET
from sdp.paths import work_dir
from sdp.platform import settings
from sdp.platform.checks import (
    kafka_bootstrap,
    kafka_client,
    kafka_login_env,
    prometheus_query,
    serving_connection,
    superset_url,
)
from sdp.platform.inventory import LOCAL_INVENTORY
from sdp.platform.secrets import read_secret
from tests.conftest import needs_container_hosts, sdp

pytestmark = [pytest.mark.integration, needs_container_hosts]


@pytest.fixture(scope="module")
def traffic(platform):
    """Half a minute of shopping at 100 events/s and one record the stream refuses; then the
    stream has caught up and Prometheus has scraped it twice."""
    from confluent_kafka import Producer

    start = datetime.now(UTC)
    generated = sdp(
        "generate", "--bootstrap", kafka_bootstrap(platform), "--rate", "100", "--duration", "30",
        env={**os.environ, **kafka_login_env(platform)},
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr[-2000:]
    producer = Producer(kafka_client(platform, "generator"))
    producer.produce("shopping-events", b"not json", b"dashboards")
    assert producer.flush(30) == 0
    caught_up = sdp(
        "stream", "reconcile", "-i", str(LOCAL_INVENTORY), "--wait", "300",
        "--since", start.isoformat(),
    )  # fmt: skip
    assert caught_up.returncode == 0, caught_up.stdout[-2000:] + caught_up.stderr[-2000:]
    time.sleep(35)  # the rates need two scrapes (every 15 s) after the stream's batches
    return platform


def promql(expr: str, instance: str) -> str:
    """The query as Grafana sends it, its variables filled in."""
    return expr.replace("$__rate_interval", "2m").replace("$instance", instance)


def sql(raw: str) -> str:
    """Grafana's time macro as the dashboards' default range, the last hour, expands it."""
    return re.sub(
        r"\$__timeFilter\((\w+)\)", r"\1 BETWEEN now() - interval '1 hour' AND now()", raw
    )


def test_every_panel_query_returns_data(traffic):
    instance = sorted(traffic.hostvars)[0]
    ran, empty = [], []
    with serving_connection(traffic) as conn:
        for name in DASHBOARDS:
            data = json.loads((GRAFANA_DIR / f"{name}.json").read_text())
            for title, uid, target in queries(data):
                if uid == PROMETHEUS.uid:
                    query = promql(target["expr"], instance)
                    found = len(prometheus_query(traffic, query))
                else:
                    query = sql(target["rawSql"])
                    found = len(conn.execute(query).fetchall())
                ran.append(f"{name} | {title} | {uid} | {found} | {query}")
                if not found:
                    empty.append(f"{name} / {title}: {query}")
    report = work_dir() / "reports" / "dashboard-queries.txt"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("dashboard | panel | datasource | series or rows | query\n" + "\n".join(ran))
    assert len(ran) >= 40, ran
    assert not empty, "queries without data:\n" + "\n".join(empty)


# Superset: what a user sees. The dashboards are opened in a headless Chromium (Debian's, driven
# by its chromium-driver) as the admin; each chart must have drawn its data.
CHART = ".dashboard-component-chart-holder"
# What Superset writes in a chart that failed or found nothing.
CHART_TROUBLE = re.compile(r"No results|Unexpected error|error|Error", re.S)
# The batch's dashboards show what the DAG runs of tests/batch/test_daily_e2e.py served (earlier in
# `make test`'s platform session); the stream's, what `traffic` made.
FILLED_BY_BATCH = {"daily-analytics", "olist"}
WINDOW = (1600, 2400)


def served_rows(conn, table: str) -> int:
    """Rows in serving.TABLE; 0 before the job that makes it ran."""
    if conn.execute("SELECT to_regclass(%s)", (f"serving.{table}",)).fetchone()[0] is None:
        return 0
    return conn.execute(f"SELECT count(*) FROM serving.{table}").fetchone()[0]


@pytest.fixture(scope="module")
def browser(traffic):
    """Chromium logged in to Superset with the admin's generated password, as a user does."""
    if not shutil.which("chromedriver"):
        pytest.skip("needs Debian's chromium and chromium-driver (make prereqs)")
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options, webdriver.ChromeService(shutil.which("chromedriver")))
    driver.implicitly_wait(0)
    try:
        driver.get(f"{superset_url(traffic)}/login/")
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "username"))
        driver.find_element(By.ID, "username").send_keys(
            settings.role("superset", "superset_admin_user")
        )
        password = driver.find_element(By.ID, "password")
        password.send_keys(read_secret(traffic.cluster_name, "superset-admin-password"))
        password.send_keys(Keys.ENTER)
        WebDriverWait(driver, 30).until(lambda d: "/login" not in d.current_url)
        yield driver
    finally:
        driver.quit()


def save_page(driver, path) -> None:
    """A screenshot down to the last chart (the window is resized to the page's charts)."""
    from selenium.webdriver.common.by import By

    holders = driver.find_elements(By.CSS_SELECTOR, CHART)
    bottom = max((h.rect["y"] + h.rect["height"] for h in holders), default=1000)
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, int(bottom) + 200)  # + the window's frame and a margin
    time.sleep(2)  # the charts redraw for the new size
    driver.save_screenshot(str(path))


def chart_states(driver) -> dict[str, str]:
    """Each chart's title → 'loading', 'drawn' or what went wrong."""
    from selenium.webdriver.common.by import By

    states = {}
    for holder in driver.find_elements(By.CSS_SELECTOR, CHART):
        text = holder.text
        title = text.split("\n", 1)[0]
        if holder.find_elements(By.CSS_SELECTOR, '[aria-label="Loading"], .loading'):
            states[title] = "loading"
        elif trouble := CHART_TROUBLE.search(text.split("\n", 1)[-1]):
            states[title] = f"{trouble.group(0)}: {text[:300]!r}"
        elif (
            holder.find_elements(By.CSS_SELECTOR, "canvas, svg, tbody tr")
            or len(text.split("\n")) > 1
        ):
            states[title] = "drawn"
        else:
            states[title] = "loading"
    return states


@pytest.mark.parametrize("dashboard", SUPERSET, ids=lambda d: d.slug)
def test_superset_dashboard_draws_every_chart(browser, traffic, dashboard):
    if dashboard.slug in FILLED_BY_BATCH:
        tables = sorted({t for chart in dashboard.charts for t in chart.dataset.sources})
        with serving_connection(traffic) as conn:
            empty = [t for t in tables if not served_rows(conn, t)]
        if empty:
            pytest.skip(f"serving.{empty[0]} is empty: tests/batch/test_daily_e2e.py fills it")
    # Tall enough for every chart: Superset draws only the charts in view.
    browser.set_window_size(*WINDOW)
    browser.get(f"{superset_url(traffic)}/superset/dashboard/{dashboard.slug}/?standalone=1")
    expected = {chart.title for chart in dashboard.charts}
    states: dict[str, str] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        states = chart_states(browser)
        if set(states) >= expected and "loading" not in states.values():
            break
        time.sleep(2)
    shot = work_dir() / "reports" / f"superset-{dashboard.slug}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    save_page(browser, shot)
    assert set(states) >= expected, f"charts missing from the page: {expected - set(states)}"
    failed = {title: state for title, state in states.items() if state != "drawn"}
    assert not failed, f"{dashboard.slug} (screenshot {shot}): {failed}"
