"""How `make status` tries a check: once by default, again while it fails within the inventory's
sdp_status_patience (the services themselves are checked for real in test_platform_up)."""

import pytest

from sdp.platform import checks


def flaky(failures: int):
    """A check that raises `failures` times, then passes."""
    calls = []

    def check(_inv) -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise TimeoutError(f"try {len(calls)} timed out")
        return "fine"

    return check, calls


def test_one_try_without_patience():
    check, calls = flaky(1)
    assert checks.run_check(None, check, patience=0) == (False, "TimeoutError: try 1 timed out")
    assert len(calls) == 1


def test_a_failing_check_is_tried_again_within_the_patience(monkeypatch):
    monkeypatch.setattr(checks, "RETRY_SECONDS", 0.01)
    check, calls = flaky(2)
    assert checks.run_check(None, check, patience=5) == (True, "fine (on try 3)")
    assert len(calls) == 3
    ok, detail = checks.run_check(None, flaky(1000)[0], patience=0.05)
    assert not ok and "tries in 0 s" in detail and detail.startswith("TimeoutError: try ")


def test_grafana_not_in_the_bundle_is_no_failure(monkeypatch):
    from sdp.bundle import served

    monkeypatch.setattr(served, "tarball", lambda component: [])
    assert checks.grafana(None) == "not in the bundle"


def test_grafana_is_asked_as_its_admin_for_every_committed_dashboard(monkeypatch):
    """Against a stand-in for Grafana's API: /api/health, then the admin's dashboard search."""
    import base64
    import http.server
    import json
    import threading
    from pathlib import Path

    from sdp.bundle import served
    from sdp.dashboards.cli import GRAFANA_DIR
    from sdp.platform.inventory import Inventory

    uids = sorted(json.loads(p.read_text())["uid"] for p in GRAFANA_DIR.glob("*.json"))
    found, seen = list(uids), []

    class Grafana(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            body = {"database": "ok"} if self.path == "/api/health" else [{"uid": u} for u in found]
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Grafana)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    platform = checks.settings.platform
    monkeypatch.setattr(
        checks.settings,
        "platform",
        lambda name: server.server_address[1] if name == "grafana_port" else platform(name),
    )
    monkeypatch.setattr(served, "tarball", lambda component: [{"name": "grafana.tar.gz"}])
    monkeypatch.setattr(checks, "read_secret", lambda cluster, name: f"{name}-value")
    inv = Inventory(Path("inv"), {"monitoring": ["mon"]}, {"mon": {"ansible_host": "127.0.0.1"}})
    try:
        assert checks.grafana(inv) == f"healthy, {len(uids)} dashboards provisioned"
        login = base64.b64encode(b"admin:grafana-admin-password-value").decode()
        assert seen[1] == ("/api/search?type=dash-db&limit=5000", f"Basic {login}")
        found.remove("sdp-nodes")
        with pytest.raises(RuntimeError, match="dashboards not provisioned: sdp-nodes"):
            checks.grafana(inv)
    finally:
        server.shutdown()
