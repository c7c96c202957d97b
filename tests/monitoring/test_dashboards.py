"""The Grafana dashboards (sdp/dashboards/grafana.py → monitoring/dashboards/grafana/): the
committed JSON is what the code renders, and it holds to Grafana's dashboard schema as the
foundation SDK's models (generated from that schema) read it."""

import json

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from sdp.dashboards.cli import GRAFANA_DIR
from sdp.dashboards.grafana import DASHBOARDS, PROMETHEUS, SERVING, queries, render


@pytest.mark.parametrize("name", DASHBOARDS)
def test_the_committed_json_is_what_the_code_renders(name):
    path = GRAFANA_DIR / f"{name}.json"
    assert path.read_text() == render(name), f"{path} is stale: run `sdp dashboards render`"


def without_empty(value):
    """The JSON without the empty objects and lists the SDK's decoders add as defaults."""
    if isinstance(value, dict):
        kept = {k: without_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [without_empty(v) for v in value]
    return value


@pytest.mark.parametrize("name", DASHBOARDS)
def test_the_json_reads_back_through_grafanas_schema_unchanged(name):
    """A field the schema does not know, or a panel the decoders cannot place, is lost on the
    way through the SDK's Dashboard model and the comparison fails."""
    register_default_plugins()
    data = json.loads((GRAFANA_DIR / f"{name}.json").read_text())
    back = json.loads(json.dumps(Dashboard.from_json(data), cls=JSONEncoder))
    assert without_empty(back) == without_empty(data)


@pytest.mark.parametrize("name", DASHBOARDS)
def test_every_panel_queries_a_provisioned_datasource_and_has_an_id_of_its_own(name):
    data = json.loads((GRAFANA_DIR / f"{name}.json").read_text())
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids))
    found = queries(data)
    assert found
    assert {uid for _, uid, _ in found} <= {PROMETHEUS.uid, SERVING.uid}
