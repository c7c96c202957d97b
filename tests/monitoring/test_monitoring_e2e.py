"""Prometheus on the running platform: every component's metrics arrive, and the rules of
monitoring/rules are loaded, evaluate without error, and nothing critical fires."""

import pytest

from sdp.platform.checks import prometheus_api, prometheus_query
from tests.conftest import needs_container_hosts
from tests.monitoring.rules import rules

pytestmark = [pytest.mark.integration, needs_container_hosts]

# Per scrape job, a series (and a condition on it) its exporter gives only when it reads its
# component for real.
COMPONENT_METRICS = {
    "node": ("node_memory_MemAvailable_bytes", "> 0"),
    "kafka": ("kafka_controller_kafkacontroller_activecontrollercount", "== 1"),
    "postgres": ("pg_up", "== 1"),
    "minio": ("minio_node_drive_online_total", "> 0"),
    "spark-master": ("metrics_master_aliveWorkers_Value", "> 0"),
    "spark-worker": ("metrics_worker_coresFree_Value", ">= 0"),
    "stream": ("sdp_stream_trigger_seconds", "> 0"),
    "airflow": ("airflow_scheduler_heartbeat", ">= 0"),
    "prometheus": ("prometheus_tsdb_head_series", "> 0"),
}


@pytest.mark.parametrize("job", COMPONENT_METRICS)
def test_every_component_reports_its_metrics(platform, job):
    metric, condition = COMPONENT_METRICS[job]
    expr = f'{metric}{{job="{job}"}} {condition}'
    assert prometheus_query(platform, expr), f"Prometheus has no {expr}"


def test_every_rule_is_loaded_and_evaluates_and_nothing_critical_fires(platform):
    groups = prometheus_api(platform, "rules")["groups"]
    loaded = {r["name"]: r for g in groups for r in g["rules"]}
    assert sorted(loaded) == sorted(r["name"] for r in rules())
    broken = {n: r.get("lastError") for n, r in loaded.items() if r["health"] != "ok"}
    assert not broken, broken
    critical = [
        a["labels"] for a in prometheus_api(platform, "alerts")["alerts"]
        if a["state"] == "firing" and a["labels"].get("severity") == "critical"
    ]  # fmt: skip
    assert not critical, critical
