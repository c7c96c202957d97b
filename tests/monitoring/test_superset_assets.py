"""The Superset dashboards (sdp/dashboards/superset.py → monitoring/superset/): the committed bundle
is what the code renders, and each chart refers only to what its dataset has."""

import re

import pytest
import yaml

from sdp.dashboards.cli import SUPERSET_DIR, TARGETS, stale_files
from sdp.dashboards.superset import DASHBOARDS, DATABASE_UUID, TIME_TYPES
from sdp.paths import REPO_ROOT

CHARTS = [chart for dashboard in DASHBOARDS for chart in dashboard.charts]


def test_the_committed_bundle_is_what_the_code_renders():
    out, make, pattern = TARGETS["superset"]
    write, delete = stale_files(out, make(), pattern)
    assert not write + delete, "stale: run `sdp dashboards render`"


def test_the_bundle_names_the_connection_the_role_writes():
    template = REPO_ROOT / "roles" / "superset" / "templates" / "serving.yaml.j2"
    assert f"uuid: {DATABASE_UUID}\n" in template.read_text()
    for path in SUPERSET_DIR.glob("datasets/**/*.yaml"):
        assert yaml.safe_load(path.read_text())["database_uuid"] == DATABASE_UUID


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.title)
def test_a_chart_uses_its_datasets_columns_and_metrics(chart):
    params, dataset = chart.params, chart.dataset
    metrics = [*params.get("metrics", []), *(params[k] for k in ("metric", "x", "y", "size")
                                            if k in params)]  # fmt: skip
    assert set(metrics) <= set(dataset.metrics), f"{chart.title}: metrics {metrics}"
    columns = [*params.get("groupby", []), *params.get("all_columns", []),
               *(params[k] for k in ("x_axis", "entity", "series") if k in params),
               *(f["subject"] for f in params.get("adhoc_filters", []))]  # fmt: skip
    assert set(columns) <= set(dataset.columns), f"{chart.title}: columns {columns}"
    for f in params.get("adhoc_filters", []):  # a time range filters a time column
        assert f["operator"] != "TEMPORAL_RANGE" or dataset.columns[f["subject"]] in TIME_TYPES


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.slug)
def test_a_dashboards_layout_places_each_chart_once_in_rows_of_twelve(dashboard):
    position = dashboard.position()
    placed = [
        v["meta"] for v in position.values() if isinstance(v, dict) and v.get("type") == "CHART"
    ]
    assert sorted(m["uuid"] for m in placed) == sorted(c.uuid for c in dashboard.charts)
    assert len({m["chartId"] for m in placed}) == len(placed)
    for row in dashboard.rows:
        assert sum(chart.width for chart in row) == 12, [c.title for c in row]


def test_names_and_uuids_are_unique():
    uuids = [c.uuid for c in CHARTS] + [d.uuid for d in DASHBOARDS]
    assert len(uuids) == len(set(uuids))
    files = [re.sub(r"[^a-z0-9]+", "_", c.title.lower()) for c in CHARTS]
    assert len(files) == len(set(files))
