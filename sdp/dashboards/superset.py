"""The Superset dashboards as code: datasets over the serving database, charts and dashboards,
rendered as the YAML of a Superset assets bundle (monitoring/superset) that the superset role
imports. The database connection itself (databases/serving.yaml) is the role's: its host is the
inventory's."""

import re
import uuid
from dataclasses import dataclass, field

import yaml

# The role's databases/serving.yaml (roles/superset/templates/serving.yaml.j2) has this uuid.
DATABASE_UUID = "7f6f6e0c-5d0b-4a55-9a36-1f3c2b1d5e01"
SCHEMA = "serving"
# Every other uuid is derived from a name, so a render changes nothing that did not change.
NAMESPACE = uuid.UUID("3b8f0a52-9f7e-4c1e-8d7a-5e2f6c1b0a90")
VERSION = "1.0.0"
# The stream's windows of the last hours (event time); the live dashboards refresh on their own.
LIVE_RANGE = 'DATEADD(DATETIME("now"), -2, hour) : now'
LIVE_REFRESH_SECONDS = 10
TIME_TYPES = ("TIMESTAMP WITH TIME ZONE", "DATE")


def _uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}/{name}"))


@dataclass(frozen=True)
class Dataset:
    """A serving table (sql None) or a query over them, with its columns (name → SQL type) and
    saved metrics (name → SQL expression) the charts refer to by name."""

    name: str
    columns: dict[str, str]
    metrics: dict[str, str] = field(default_factory=dict)
    sql: str | None = None

    @property
    def uuid(self) -> str:
        return _uuid("dataset", self.name)

    @property
    def sources(self) -> set[str]:
        """The serving tables it reads."""
        return set(re.findall(rf"{SCHEMA}\.(\w+)", self.sql)) if self.sql else {self.name}

    @property
    def time_column(self) -> str | None:
        return next((c for c, t in self.columns.items() if t in TIME_TYPES), None)

    def config(self) -> dict:
        return {
            "table_name": self.name,
            "main_dttm_col": self.time_column,
            "description": None,
            "default_endpoint": None,
            "offset": 0,
            "cache_timeout": None,
            "schema": SCHEMA,
            "sql": self.sql,
            "params": None,
            "template_params": None,
            "filter_select_enabled": True,
            "fetch_values_predicate": None,
            "extra": None,
            "normalize_columns": False,
            "always_filter_main_dttm": False,
            "uuid": self.uuid,
            "metrics": [
                {
                    "metric_name": name,
                    "verbose_name": None,
                    "metric_type": None,
                    "expression": expression,
                    "description": None,
                    "d3format": None,
                    "extra": {},
                    "warning_text": None,
                }
                for name, expression in self.metrics.items()
            ],
            "columns": [
                {
                    "column_name": name,
                    "verbose_name": None,
                    "is_dttm": kind in TIME_TYPES,
                    "is_active": True,
                    "type": kind,
                    "advanced_data_type": None,
                    "groupby": True,
                    "filterable": True,
                    "expression": None,
                    "description": None,
                    "python_date_format": None,
                    "extra": {},
                }
                for name, kind in self.columns.items()
            ],
            "version": VERSION,
            "database_uuid": DATABASE_UUID,
        }


@dataclass(frozen=True)
class Chart:
    title: str
    dataset: Dataset
    viz_type: str
    params: dict
    width: int = 6  # of the dashboard's 12 columns
    height: int = 50

    @property
    def uuid(self) -> str:
        return _uuid("chart", self.title)

    def config(self) -> dict:
        return {
            "slice_name": self.title,
            "description": None,
            "certified_by": None,
            "certification_details": None,
            "viz_type": self.viz_type,
            "params": {
                "viz_type": self.viz_type,
                "datasource": f"{self.dataset.uuid}__table",
                **self.params,
            },
            "query_context": None,
            "cache_timeout": None,
            "uuid": self.uuid,
            "version": VERSION,
            "dataset_uuid": self.dataset.uuid,
        }


@dataclass(frozen=True)
class Dashboard:
    title: str
    slug: str
    rows: list[list[Chart]]
    refresh_seconds: int = 0

    @property
    def uuid(self) -> str:
        return _uuid("dashboard", self.slug)

    @property
    def charts(self) -> list[Chart]:
        return [chart for row in self.rows for chart in row]

    def position(self) -> dict:
        """Superset's layout: a grid of rows, each holding its charts side by side. (chartId: a
        placeholder the import replaces with the chart's id there, found by its uuid.)"""
        position = {
            "DASHBOARD_VERSION_KEY": "v2",
            "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
            "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": self.title}},
            "GRID_ID": {"type": "GRID", "id": "GRID_ID", "parents": ["ROOT_ID"], "children": []},
        }
        for r, row in enumerate(self.rows, 1):
            row_id = f"ROW-{r}"
            position["GRID_ID"]["children"].append(row_id)
            position[row_id] = {
                "type": "ROW", "id": row_id, "parents": ["ROOT_ID", "GRID_ID"],
                "meta": {"background": "BACKGROUND_TRANSPARENT"},
                "children": [f"CHART-{r}-{c}" for c in range(1, len(row) + 1)],
            }  # fmt: skip
            for c, chart in enumerate(row, 1):
                position[f"CHART-{r}-{c}"] = {
                    "type": "CHART", "id": f"CHART-{r}-{c}", "children": [],
                    "parents": ["ROOT_ID", "GRID_ID", row_id],
                    "meta": {"width": chart.width, "height": chart.height,
                             "chartId": self.charts.index(chart) + 1,
                             "sliceName": chart.title, "uuid": chart.uuid},
                }  # fmt: skip
        return position

    def config(self) -> dict:
        return {
            "dashboard_title": self.title,
            "description": None,
            "css": "",
            "slug": self.slug,
            "certified_by": None,
            "certification_details": None,
            "published": True,
            "uuid": self.uuid,
            "position": self.position(),
            "metadata": {
                "refresh_frequency": self.refresh_seconds,
                "timed_refresh_immune_slices": [],
                "expanded_slices": {},
                "color_scheme": "supersetColors",
                "label_colors": {},
                "shared_label_colors": [],
                "native_filter_configuration": [],
                "cross_filters_enabled": False,
            },
            "version": VERSION,
        }


TS, TEXT, BIGINT, NUMERIC, DOUBLE, INT, DATE = (
    "TIMESTAMP WITH TIME ZONE", "TEXT", "BIGINT", "NUMERIC", "DOUBLE PRECISION", "INTEGER", "DATE",
)  # fmt: skip
WINDOW = {"window_start": TS, "window_end": TS}


def live_range(column: str) -> list[dict]:
    return [{"clause": "WHERE", "subject": column, "operator": "TEMPORAL_RANGE",
             "comparator": LIVE_RANGE, "expressionType": "SIMPLE"}]  # fmt: skip


def over_time(x_axis: str, metric: str, groupby: list[str], time_range: list[dict]) -> dict:
    """The params of an ECharts time series: one line or stacked bar per group."""
    return {"x_axis": x_axis, "metrics": [metric], "groupby": groupby, "adhoc_filters": time_range,
            "row_limit": 10000, "show_legend": True, "rich_tooltip": True,
            "truncate_metric": True, "stack": "Stack" if groupby else None,
            # A window between empty ones is a point with no line to it: draw the points.
            "markerEnabled": True, "markerSize": 4}  # fmt: skip


def by_category(x_axis: str, *metrics: str, row_limit: int = 30, sort: str | None = None) -> dict:
    """The params of bars over a category (not time): largest first, or in the order of column
    `sort`; several metrics are stacked."""
    return {"x_axis": x_axis, "metrics": list(metrics), "groupby": [], "adhoc_filters": [],
            "x_axis_sort": sort or metrics[0], "x_axis_sort_asc": sort is not None,
            "row_limit": row_limit, "truncate_metric": True, "show_legend": len(metrics) > 1,
            "stack": "Stack" if len(metrics) > 1 else None}  # fmt: skip


def table(columns: list[str], order_by: str, ascending: bool = True) -> dict:
    """The params of a table of rows as the dataset has them (its queries return a few rows: a
    limit they reach would show a warning)."""
    return {"query_mode": "raw", "all_columns": columns, "adhoc_filters": [],
            "order_by_cols": [f'["{order_by}", {str(ascending).lower()}]'],
            "row_limit": 1000}  # fmt: skip


# Live sales: the stream's gold windows (jobs/streaming/gold.py), upserted as they close.
SALES = Dataset(
    "sales_by_category",
    {**WINDOW, "category": TEXT, "purchases": BIGINT, "revenue": NUMERIC},
    {"revenue": "SUM(revenue)", "purchases": "SUM(purchases)"},
)
EVENTS = Dataset(
    "event_counts", {**WINDOW, "event_type": TEXT, "events": BIGINT}, {"events": "SUM(events)"}
)
TOP_PRODUCTS = Dataset(
    "top_products_latest",
    {"rank": INT, "product_id": TEXT, "revenue": NUMERIC},
    sql="SELECT rank, product_id, value AS revenue FROM serving.top_products "
    "WHERE metric = 'revenue' AND window_start = "
    "(SELECT max(window_start) FROM serving.top_products WHERE metric = 'revenue')",
)
SEARCH_TERMS = Dataset(
    "search_terms_last_hour",
    {"query": TEXT, "searches": BIGINT},
    {"searches": "SUM(searches)"},
    sql="SELECT query, searches FROM serving.search_terms "
    "WHERE window_start > now() - interval '1 hour'",
)
# Olist: the batch's tables of the real orders (jobs/batch/olist_analytics.py), replaced whole.
OLIST_MONTHLY = Dataset(
    "olist_monthly_sales",
    {"month": DATE, "orders": BIGINT, "items": BIGINT, "revenue": NUMERIC, "freight": NUMERIC,
     "avg_order_value": NUMERIC},
    {"revenue": "SUM(revenue)", "orders": "SUM(orders)"},
)  # fmt: skip
OLIST_SEGMENTS = Dataset(
    "olist_product_segments",
    {"product_id": TEXT, "category": TEXT, "orders": BIGINT, "items": BIGINT,
     "avg_price": NUMERIC, "revenue": NUMERIC, "segment": TEXT},
    {"revenue": "SUM(revenue)", "orders": "SUM(orders)", "avg_price": "AVG(avg_price)"},
)  # fmt: skip
OLIST_DELIVERY = Dataset(
    "olist_delivery_by_state",
    {"state": TEXT, "delivered": BIGINT, "late": BIGINT, "avg_delivery_days": DOUBLE,
     "avg_late_days": DOUBLE, "late_share": DOUBLE},
    {"late_share": "SUM(late) * 1.0 / NULLIF(SUM(delivered), 0)"},
)  # fmt: skip
OLIST_LEAD_TIMES = Dataset(
    "olist_status_lead_times",
    {"status": TEXT, "orders": BIGINT, "avg_days": DOUBLE, "p50_days": DOUBLE, "p90_days": DOUBLE},
)


# Daily analytics: the daily batch's gold tables (jobs/batch/daily.py), each day's rows copied to
# serving. Most charts show the newest day there.
def latest_day(table: str, columns: dict[str, str], metrics: dict[str, str]) -> Dataset:
    return Dataset(
        f"{table}_latest",
        columns,
        metrics,
        sql=f"SELECT {', '.join(columns)} FROM serving.{table} "
        f"WHERE day = (SELECT max(day) FROM serving.{table})",
    )


DAILY_SALES = Dataset(
    "daily_sales",
    {"day": DATE, "category": TEXT, "orders": BIGINT, "revenue": NUMERIC, "buyers": BIGINT},
    {"revenue": "SUM(revenue)"},
)
DAILY_SALES_LATEST = latest_day("daily_sales", DAILY_SALES.columns, DAILY_SALES.metrics)
DAILY_HOURLY = latest_day(
    "daily_hourly_sales", {"hour": INT, "orders": BIGINT, "revenue": NUMERIC},
    {"revenue": "SUM(revenue)"},
)  # fmt: skip
DAILY_FUNNEL = Dataset(
    "daily_funnel_latest",
    {"step": INT, "stage": TEXT, "shoppers": BIGINT},
    {"shoppers": "SUM(shoppers)"},
    sql="WITH latest AS (SELECT * FROM serving.daily_funnel "
    "WHERE day = (SELECT max(day) FROM serving.daily_funnel)) "
    "SELECT 1 AS step, 'view' AS stage, sum(views) AS shoppers FROM latest "
    "UNION ALL SELECT 2, 'add to cart', sum(carts) FROM latest "
    "UNION ALL SELECT 3, 'purchase', sum(purchases) FROM latest",
)
DAILY_ASPECTS = latest_day(
    "daily_review_aspects",
    {"aspect": TEXT, "mentions": BIGINT, "positive": BIGINT, "negative": BIGINT,
     "neutral": BIGINT},
    {"positive": "SUM(positive)", "negative": "SUM(negative)", "neutral": "SUM(neutral)"},
)  # fmt: skip
DAILY_RATINGS = latest_day(
    "daily_ratings", {"rating": BIGINT, "reviews": BIGINT}, {"reviews": "SUM(reviews)"}
)
DAILY_METRICS = latest_day("daily_metrics", {"metric": TEXT, "value": DOUBLE}, {})
# `check` is an SQL keyword, which Superset's queries do not quote: renamed.
DAILY_QUALITY = Dataset(
    "dq_results_latest",
    {"quality_check": TEXT, "observed": DOUBLE, "threshold": DOUBLE, "passed": "BOOLEAN"},
    sql='SELECT "check" AS quality_check, observed, threshold, passed FROM serving.dq_results '
    "WHERE day = (SELECT max(day) FROM serving.dq_results)",
)

DASHBOARDS = [
    Dashboard(
        "Live sales",
        "live-sales",
        [
            [
                Chart(
                    "Revenue, last 2 hours",
                    SALES,
                    "big_number_total",
                    {
                        "metric": "revenue",
                        "adhoc_filters": live_range("window_start"),
                        "subheader": "purchases in the stream's windows",
                        "header_font_size": 0.3,
                    },
                    width=3,
                ),
                Chart(
                    "Revenue by category per window",
                    SALES,
                    "echarts_timeseries_bar",
                    over_time("window_start", "revenue", ["category"], live_range("window_start")),
                    width=9,
                ),
            ],
            [
                Chart(
                    "Top products by revenue, latest window",
                    TOP_PRODUCTS,
                    "table",
                    table(["rank", "product_id", "revenue"], "rank"),
                    width=4,
                ),
                Chart(
                    "Top search terms, last hour",
                    SEARCH_TERMS,
                    "echarts_timeseries_bar",
                    by_category("query", "searches", row_limit=10),
                    width=4,
                ),
                Chart(
                    "Events per window by type",
                    EVENTS,
                    "echarts_timeseries_line",
                    over_time("window_start", "events", ["event_type"], live_range("window_start")),
                    width=4,
                ),
            ],
        ],
        refresh_seconds=LIVE_REFRESH_SECONDS,
    ),
    Dashboard(
        "Daily analytics",
        "daily-analytics",
        [
            [
                Chart(
                    "Revenue per day by category",
                    DAILY_SALES,
                    "echarts_timeseries_bar",
                    over_time("day", "revenue", ["category"], []),
                    width=12,
                    height=45,
                ),
            ],
            [
                Chart(
                    "Revenue by category, latest day",
                    DAILY_SALES_LATEST,
                    "echarts_timeseries_bar",
                    by_category("category", "revenue"),
                ),
                Chart(
                    "Revenue per shop hour, latest day",
                    DAILY_HOURLY,
                    "echarts_timeseries_bar",
                    by_category("hour", "revenue", sort="hour"),
                ),
            ],
            [
                Chart(
                    "View, cart, purchase, latest day",
                    DAILY_FUNNEL,
                    "funnel",
                    {
                        "groupby": ["stage"],
                        "metric": "shoppers",
                        "adhoc_filters": [],
                        "sort_by_metric": True,
                        "row_limit": 10,
                        "show_legend": True,
                    },
                    width=4,
                ),
                Chart(
                    "Review aspects, latest day",
                    DAILY_ASPECTS,
                    "echarts_timeseries_bar",
                    by_category("aspect", "positive", "negative", "neutral", sort="aspect"),
                    width=4,
                ),
                Chart(
                    "Ratings, latest day",
                    DAILY_RATINGS,
                    "echarts_timeseries_bar",
                    by_category("rating", "reviews", sort="rating"),
                    width=4,
                ),
            ],
            [
                Chart(
                    "Headline metrics, latest day",
                    DAILY_METRICS,
                    "table",
                    table(["metric", "value"], "metric"),
                ),
                Chart(
                    "Data quality, latest day",
                    DAILY_QUALITY,
                    "table",
                    table(["quality_check", "observed", "threshold", "passed"], "quality_check"),
                ),
            ],
        ],
    ),
    Dashboard(
        "Olist",
        "olist",
        [
            [
                Chart(
                    "Monthly revenue",
                    OLIST_MONTHLY,
                    "echarts_timeseries_line",
                    over_time("month", "revenue", [], []),
                    width=8,
                ),
                Chart(
                    "Orders per status, days to deliver",
                    OLIST_LEAD_TIMES,
                    "table",
                    table(
                        ["status", "orders", "avg_days", "p50_days", "p90_days"],
                        "orders",
                        ascending=False,
                    ),
                    width=4,
                ),
            ],
            [
                Chart(
                    "Product segments: price against orders",
                    OLIST_SEGMENTS,
                    "bubble_v2",
                    {
                        "entity": "product_id",
                        "series": "segment",
                        "x": "avg_price",
                        "y": "orders",
                        "size": "revenue",
                        "adhoc_filters": [],
                        "row_limit": 500,
                        "max_bubble_size": "25",
                        "show_legend": True,
                        "x_axis_label": "average price",
                        "y_axis_label": "orders",
                    },
                    width=6,
                ),
                Chart(
                    "Late deliveries by state",
                    OLIST_DELIVERY,
                    "echarts_timeseries_bar",
                    by_category("state", "late_share"),
                    width=6,
                ),
            ],
        ],
    ),
]


def _yaml(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)


def files() -> dict[str, str]:
    """The bundle's files (path relative to monitoring/superset → text), but the database's."""
    out = {"metadata.yaml": _yaml({"version": VERSION, "type": "assets",
                                   "timestamp": "2026-12-05T00:00:00+00:00"})}  # fmt: skip
    for dashboard in DASHBOARDS:
        out[f"dashboards/{dashboard.slug}.yaml"] = _yaml(dashboard.config())
        for chart in dashboard.charts:
            out[f"charts/{re.sub(r'[^a-z0-9]+', '_', chart.title.lower()).strip('_')}.yaml"] = (
                _yaml(chart.config())
            )
            out[f"datasets/serving/{chart.dataset.name}.yaml"] = _yaml(chart.dataset.config())
    return out
