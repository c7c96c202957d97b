"""Every query of every Grafana dashboard, run against the live Prometheus and PostgreSQL while
the generator and the stream run: each must return data. The list of what ran, with the
number of series or rows each returned, goes to $SDP_CACHE/work/reports/dashboard-queries.txt."""

import json
import re
import time
from datetime import UTC, datetime

import pytest

from sdp.dashboards.cli import GRAFANA_DIR
from sdp.dashboards.grafana import DASHBOARDS, PROMETHEUS, queries
from sdp.paths import work_dir
from sdp.platform.checks import kafka_bootstrap, prometheus_query, serving_connection
from sdp.platform.inventory import LOCAL_INVENTORY
from tests.conftest import needs_container_hosts, sdp

pytestmark = [pytest.mark.integration, needs_container_hosts]


@pytest.fixture(scope="module")
def traffic(platform):
    """Half a minute of shopping at 100 events/s and one record the stream refuses; then the
    stream has caught up and Prometheus has scraped it twice."""
    from confluent_kafka import Producer

    start = datetime.now(UTC)
    generated = sdp(
        "generate", "--bootstrap", kafka_bootstrap(platform), "--rate", "100", "--duration", "30"
    )
    assert generated.returncode == 0, generated.stderr[-2000:]
    producer = Producer({"bootstrap.servers": kafka_bootstrap(platform)})
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
