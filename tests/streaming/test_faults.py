"""Faults under load, at a size that fits `make test`: bench.faults on the single-host platform
restarts PostgreSQL, stops MinIO and kills the Kafka broker while generated traffic flows, and
every shopping event must land exactly once in bronze and silver, with the producer's deliveries
all confirmed and `sdp stream reconcile` clean. (The stream's SIGKILL has its own test in
test_stream_e2e; the multi-host scenarios and full sizes are the benchmark's, docs/benchmarks.md.)
"""

import json
import subprocess
import sys

import pytest

from tests.conftest import needs_container_hosts

pytestmark = [pytest.mark.integration, needs_container_hosts]

SCENARIOS = ["postgres-restart", "minio-stop", "kafka-kill"]


def test_no_record_is_lost_or_duplicated_through_database_storage_and_broker_faults(
    platform, stopwatch
):
    with stopwatch(f"bench.faults {' '.join(SCENARIOS)}, 2,000 events each"):
        result = subprocess.run(
            [sys.executable, "-m", "bench.faults", *SCENARIOS, "--count", "2000",
             "--outage", "10", "--fault-after", "2", "-i", str(platform.path), "--json"],
            capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = json.loads(result.stdout)["results"]
    assert [r["scenario"] for r in runs] == SCENARIOS
    for r in runs:
        assert r["shopping_events"] == 2000, r
        assert r["bronze"] == r["silver"] == {"lost": 0, "duplicated": 0}, r
        assert (r["producer_failed"], r["reconcile"]) == (0, "ok"), r
