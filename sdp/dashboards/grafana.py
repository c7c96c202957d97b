"""The Grafana dashboards, as code: `sdp dashboards render` writes them to monitoring/dashboards/.

Two datasources, provisioned by uid: Prometheus (the monitoring host) and PostgreSQL's `serving`
database (the stream's 5-minute windows). Every panel query is written once, here; the tests run
each of them against the live platform.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.common import StackingConfig
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import StackingMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

from sdp.platform.autoscale import LAG

PROMETHEUS = DataSourceRef(type_val="prometheus", uid="sdp-prometheus")
SERVING = DataSourceRef(type_val="grafana-postgresql-datasource", uid="sdp-serving")
RATE = "$__rate_interval"


@dataclass
class SqlQuery(cogvariants.Dataquery):
    """A PostgreSQL target (the SDK has builders for Prometheus, not for SQL datasources)."""

    raw_sql: str
    ref_id: str = "A"
    format: str = "time_series"  # or "table"

    def to_json(self) -> dict[str, object]:
        return {
            "refId": self.ref_id,
            "datasource": SERVING.to_json(),
            "rawQuery": True,
            "editorMode": "code",
            "format": self.format,
            "rawSql": self.raw_sql,
        }


class Sql(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, raw_sql: str, fmt: str = "time_series"):
        self._query = SqlQuery(raw_sql, format=fmt)

    def ref_id(self, ref_id: str) -> "Sql":
        self._query.ref_id = ref_id
        return self

    def build(self) -> SqlQuery:
        return self._query


def rate(selector: str, window: str = RATE) -> str:
    return f"rate({selector}[{window}])"


def cpu_busy(labels: str = "", window: str = RATE) -> str:
    """Share of each host's CPU time not idle; labels: more matchers, with a leading comma."""
    idle = rate('node_cpu_seconds_total{mode="idle"' + labels + "}", window)
    return f"1 - avg by (instance) ({idle})"


FS = 'fstype!~"tmpfs|ramfs|squashfs"'  # the disks, as the DiskAlmostFull rule sees them
KAFKA_IN = "kafka_server_brokertopicmetrics_messagesin_total"
ALIVE_WORKERS = "sum(metrics_master_aliveWorkers_Value)"
KAFKA_BYTES = 'kafka_server_brokertopicmetrics_bytes{}_total{{topic=""}}'  # the broker's total


def prom(expr: str, legend: str = "") -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).range()
    return query.legend_format(legend) if legend else query


def _with_targets(panel, queries: Iterable):
    """The queries as the panel's targets A, B, ..., from the datasource of the first."""
    queries = list(queries)
    panel = panel.datasource(SERVING if isinstance(queries[0], Sql) else PROMETHEUS)
    for number, query in enumerate(queries):
        panel = panel.with_target(query.ref_id(chr(ord("A") + number)))
    return panel


def graph(title: str, unit: str, *queries, w: int = 12, h: int = 8, stacked=False):
    panel = timeseries.Panel().title(title).unit(unit).span(w).height(h)
    if stacked:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL)).fill_opacity(40)
    return _with_targets(panel, queries)


def single(title: str, unit: str, query, w: int = 6, h: int = 4):
    return _with_targets(stat.Panel().title(title).unit(unit).span(w).height(h), [query])


def grid(title: str, query: Sql, w: int = 12, h: int = 8):
    return table.Panel().title(title).span(w).height(h).datasource(SERVING).with_target(query)


def board(uid: str, title: str, description: str, refresh: str = "30s"):
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["sdp"])
        .timezone("utc")
        .time("now-1h", "now")
        .refresh(refresh)
        .editable()
    )


def node_overview():
    """One row per host: every inventory host, through the node job's instance label."""
    on = 'instance="$instance"'
    host = (
        dashboard.QueryVariable("instance")
        .label("Host")
        .datasource(PROMETHEUS)
        .query("label_values(node_uname_info, instance)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
    )
    return (
        board("sdp-nodes", "Nodes", "CPU, memory, load, disk and network of every host.")
        .with_variable(host)
        .with_row(dashboard.Row("$instance").repeat("instance"))
        .with_panel(
            graph(
                "CPU busy",
                "percentunit",
                prom(cpu_busy(f",{on}"), "busy"),
                w=6,
            )
        )
        .with_panel(
            graph(
                "Memory used",
                "bytes",
                prom(
                    f"node_memory_MemTotal_bytes{{{on}}} - node_memory_MemAvailable_bytes{{{on}}}",
                    "used",
                ),
                prom(f"node_memory_MemTotal_bytes{{{on}}}", "total"),
                w=6,
            )
        )
        .with_panel(
            graph(
                "Load",
                "short",
                prom(f"node_load1{{{on}}}", "1m"),
                prom(f"node_load5{{{on}}}", "5m"),
                prom(f'count(node_cpu_seconds_total{{mode="idle",{on}}})', "cores"),
                w=4,
            )
        )
        .with_panel(
            graph(
                "Disk used",
                "percentunit",
                prom(
                    f"1 - node_filesystem_avail_bytes{{{FS},{on}}}"
                    f" / node_filesystem_size_bytes{{{FS},{on}}}",
                    "{{mountpoint}}",
                ),
                w=4,
            )
        )
        .with_panel(
            graph(
                "Network",
                "Bps",
                prom(
                    rate(f'node_network_receive_bytes_total{{device!="lo",{on}}}'),
                    "in {{device}}",
                ),
                prom(
                    rate(f'node_network_transmit_bytes_total{{device!="lo",{on}}}'),
                    "out {{device}}",
                ),
                w=4,
            )
        )
    )


WINDOWS = "$__timeFilter(window_start)"


def realtime_sales():
    """The shop as the stream sees it: the 5-minute windows in PostgreSQL, refreshed every 10 s."""
    return (
        board(
            "sdp-sales",
            "Realtime sales",
            "Revenue, products, searches and events per 5-minute window (serving schema), and the "
            "records flowing through the stream.",
            refresh="10s",
        )
        .with_panel(
            graph(
                "Revenue by category, per 5 minutes",
                "currencyBRL",
                Sql(
                    "SELECT window_start AS time, category AS metric, revenue AS value "
                    f"FROM serving.sales_by_category WHERE {WINDOWS} ORDER BY 1"
                ),
                w=24,
                stacked=True,
            )
        )
        .with_panel(
            grid(
                "Top 10 products by revenue, newest window",
                Sql(
                    "SELECT rank, product_id, value AS revenue FROM serving.top_products "
                    "WHERE metric = 'revenue' AND window_start = (SELECT max(window_start) "
                    "FROM serving.top_products WHERE metric = 'revenue') ORDER BY rank",
                    "table",
                ),
                w=8,
            )
        )
        .with_panel(
            grid(
                "Top search terms, last hour",
                Sql(
                    "SELECT query, sum(searches) AS searches FROM serving.search_terms "
                    f"WHERE {WINDOWS} GROUP BY query ORDER BY 2 DESC LIMIT 10",
                    "table",
                ),
                w=8,
            )
        )
        .with_panel(
            graph(
                "Events per 5 minutes, by type",
                "short",
                Sql(
                    "SELECT window_start AS time, event_type AS metric, events AS value "
                    f"FROM serving.event_counts WHERE {WINDOWS} ORDER BY 1"
                ),
                w=8,
            )
        )
        .with_panel(
            graph(
                "Records per second through the stream, by topic",
                "rps",
                prom(f"sum by (topic) ({rate('sdp_stream_records_total')})", "{{topic}}"),
                w=24,
            )
        )
    )


def pipeline():
    """Is every record flowing: Kafka in, the stream's rates, batches, lag and dead letters."""
    return (
        board(
            "sdp-pipeline", "Pipeline", "Kafka in, the stream's rates, batches, lag, dead letters."
        )
        .with_panel(
            single(
                "Under-replicated partitions",
                "short",
                prom("sum(kafka_server_replicamanager_underreplicatedpartitions)"),
            )
        )
        .with_panel(
            single(
                "Offline partitions",
                "short",
                prom("max(kafka_controller_kafkacontroller_offlinepartitionscount)"),
            )
        )
        .with_panel(
            single(
                "Active controllers",
                "short",
                prom("sum(kafka_controller_kafkacontroller_activecontrollercount)"),
            )
        )
        .with_panel(single("Records waiting in Kafka", "short", prom(LAG)))
        .with_panel(
            graph(
                "Stream: input vs processing rate",
                "rps",
                prom("sdp_stream_input_rows_per_second", "input"),
                prom("sdp_stream_processed_rows_per_second", "processed"),
            )
        )
        .with_panel(
            graph(
                "Batch duration vs trigger",
                "s",
                prom("sdp_stream_batch_duration_seconds", "batch"),
                prom("sdp_stream_trigger_seconds", "trigger"),
            )
        )
        .with_panel(graph("Lag per topic", "short", prom("sdp_stream:lag_records", "{{topic}}")))
        .with_panel(
            graph(
                "Dead letters per second, by reason",
                "rps",
                prom(
                    f"sum by (topic, reason) ({rate('sdp_stream_dead_letters_total')})",
                    "{{topic}}: {{reason}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Kafka messages in per second, by topic",
                "rps",
                prom(
                    "sum by (topic) (" + rate(KAFKA_IN + '{topic!=""}') + ")",
                    "{{topic}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Records per second landed by the stream, by topic",
                "rps",
                prom(f"sum by (topic) ({rate('sdp_stream_records_total')})", "{{topic}}"),
            )
        )
    )


def services():
    """Kafka, Spark, MinIO, PostgreSQL and Airflow, each from its own exporter."""
    return (
        board("sdp-services", "Services", "Kafka, Spark, MinIO, PostgreSQL and Airflow.")
        .with_row(dashboard.Row("Kafka"))
        .with_panel(
            graph(
                "Bytes in and out per broker",
                "Bps",
                prom(
                    f"sum by (instance) ({rate(KAFKA_BYTES.format('in'))})",
                    "in {{instance}}",
                ),
                prom(
                    f"sum by (instance) ({rate(KAFKA_BYTES.format('out'))})",
                    "out {{instance}}",
                ),
                w=8,
            )
        )
        .with_panel(
            graph(
                "Request time, 99th percentile",
                "ms",
                prom(
                    'kafka_network_requestmetrics_totaltimems{quantile="0.99"}',
                    "{{request}} {{instance}}",
                ),
                w=8,
            )
        )
        .with_panel(
            graph(
                "ISR shrinks and expands per second",
                "ops",
                prom(
                    f"sum by (instance) ({rate('kafka_server_replicamanager_isrshrinks_total')})",
                    "shrinks {{instance}}",
                ),
                prom(
                    f"sum by (instance) ({rate('kafka_server_replicamanager_isrexpands_total')})",
                    "expands {{instance}}",
                ),
                w=8,
            )
        )
        .with_row(dashboard.Row("Spark"))
        .with_panel(single("Alive workers", "short", prom(ALIVE_WORKERS)))
        .with_panel(single("Running applications", "short", prom("sum(metrics_master_apps_Value)")))
        .with_panel(
            graph(
                "Cores used and free per worker",
                "short",
                prom("metrics_worker_coresUsed_Value", "used {{instance}}"),
                prom("metrics_worker_coresFree_Value", "free {{instance}}"),
            )
        )
        .with_row(dashboard.Row("MinIO"))
        .with_panel(single("Drives online", "short", prom("sum(minio_node_drive_online_total)")))
        .with_panel(single("Drives offline", "short", prom("sum(minio_node_drive_offline_total)")))
        .with_panel(
            graph(
                "Free space per drive",
                "bytes",
                prom("minio_node_drive_free_bytes", "{{instance}} {{drive}}"),
            )
        )
        .with_row(dashboard.Row("PostgreSQL"))
        .with_panel(
            graph(
                "Connections per database",
                "short",
                prom('pg_stat_database_numbackends{datname!~"template.*"}', "{{datname}}"),
                w=8,
            )
        )
        .with_panel(
            graph(
                "Commits per second",
                "ops",
                prom(
                    rate('pg_stat_database_xact_commit{datname!~"template.*"}'),
                    "{{datname}}",
                ),
                w=8,
            )
        )
        .with_panel(
            graph(
                "Database size",
                "bytes",
                prom('pg_database_size_bytes{datname!~"template.*"}', "{{datname}}"),
                w=8,
            )
        )
        .with_row(dashboard.Row("Airflow"))
        .with_panel(
            graph(
                "Scheduler heartbeats per second",
                "ops",
                prom(rate("airflow_scheduler_heartbeat"), "heartbeat"),
            )
        )
        .with_panel(
            graph(
                "Tasks running and queued",
                "short",
                prom("airflow_executor_running_tasks", "running"),
                prom("airflow_executor_queued_tasks", "queued"),
            )
        )
    )


# Series of the hosts that run Spark workers only (the spark-worker job's instances).
ON_WORKERS = '* on (instance) group_left () (up{job="spark-worker"} == 1)'


def scaling_series(window: str = RATE) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The scaling board's graphs as (title, unit, [(PromQL, legend)]): also E3's plot
    (bench/autoscale.py), which reads them from Prometheus over `window` ranges."""
    return [
        ("Traffic: shopping events into Kafka per second", "rps",
         [("sum(" + rate(KAFKA_IN + '{topic="shopping-events"}', window) + ")", "events/s")]),
        ("Alive Spark workers", "short", [(ALIVE_WORKERS, "workers")]),
        ("Processing delay", "s",
         [("sdp_stream_batch_duration_seconds", "batch duration"),
          ("time() - sdp_stream_last_progress_timestamp_seconds", "since last progress")]),
        ("Records waiting in Kafka", "short", [(LAG, "lag")]),
        ("CPU busy per worker", "percentunit",
         [(f"({cpu_busy(window=window)}) {ON_WORKERS}", "{{instance}}")]),
        ("Memory used per worker", "bytes",
         [(f"(node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes) {ON_WORKERS}",
           "{{instance}}")]),
    ]  # fmt: skip


def scaling():
    """What the scaling experiment watches: traffic, workers, delay, each worker's load."""
    panels = board(
        "sdp-scaling", "Scaling", "Traffic, Spark workers, processing delay, load per worker."
    )
    for title, unit, queries in scaling_series():
        panels = panels.with_panel(graph(title, unit, *(prom(e, legend) for e, legend in queries)))
    return panels


DASHBOARDS = {
    "nodes": node_overview,
    "realtime-sales": realtime_sales,
    "pipeline": pipeline,
    "services": services,
    "scaling": scaling,
}


def as_json(name: str) -> dict:
    """The dashboard as Grafana's provisioning reads it, each panel with an id of its own."""
    data = json.loads(json.dumps(DASHBOARDS[name]().build(), cls=JSONEncoder))
    for number, panel in enumerate(data["panels"], start=1):
        panel["id"] = number
    return data


def render(name: str) -> str:
    return json.dumps(as_json(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def queries(data: dict) -> list[tuple[str, str, dict]]:
    """(panel title, datasource uid, target) of every query of a dashboard's JSON."""
    return [
        (panel["title"], panel["datasource"]["uid"], target)
        for panel in data["panels"]
        for target in panel.get("targets", [])
    ]
