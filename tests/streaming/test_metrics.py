"""The stream's Prometheus endpoint: what a scrape shows after batches and progress."""

import subprocess
import urllib.request

from jobs.streaming.metrics import StreamMetrics, progress_values

PROGRESS = {
    "timestamp": "2026-12-05T04:00:05.000Z",
    "batchId": 7,
    "numInputRows": 1200,
    "inputRowsPerSecond": 240.0,
    "processedRowsPerSecond": 400.0,
    "durationMs": {"triggerExecution": 3000, "addBatch": 2500},
    "sources": [{"endOffset": {"shopping-events": {"0": 500, "1": 700}, "reviews": {"0": 3}}}],
}


def test_progress_values_give_offsets_per_partition_and_the_batch_duration():
    values = progress_values(PROGRESS)
    assert values["offset"][(("topic", "shopping-events"), ("partition", "1"))] == 700
    assert len(values["offset"]) == 3
    assert values["batch_duration_seconds"] == {(): 3.0}
    assert values["last_progress_timestamp_seconds"] == {(): 1796443205.0}


def test_an_idle_progress_keeps_the_last_batch_duration():
    metrics = StreamMetrics(trigger_seconds=5)
    metrics.progress(PROGRESS)
    metrics.progress({**PROGRESS, "numInputRows": 0, "durationMs": {"triggerExecution": 4}})
    assert "sdp_stream_batch_duration_seconds 3.0\n" in metrics.render()


def test_scrape_shows_counters_per_topic_and_reason_escaped():
    metrics = StreamMetrics(trigger_seconds=5)
    metrics.batch({"reviews": (10, 1)}, {("reviews", 'rating: "x" is not an integer'): 2})
    metrics.batch({"reviews": (5, 0)}, {})
    metrics.progress(PROGRESS)
    server = metrics.serve("127.0.0.1:0")
    try:
        port = server.server_address[1]
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    finally:
        server.shutdown()
    lines = set(text.splitlines())
    assert 'sdp_stream_records_total{topic="reviews"} 15.0' in lines
    assert 'sdp_stream_late_records_total{topic="reviews"} 1.0' in lines
    reason = 'reason="rating: \\"x\\" is not an integer"'
    assert f'sdp_stream_dead_letters_total{{topic="reviews",{reason}}} 2.0' in lines
    assert "sdp_stream_batches_total 2.0" in lines
    assert "sdp_stream_trigger_seconds 5.0" in lines
    assert 'sdp_stream_offset{topic="shopping-events",partition="0"} 500.0' in lines
    assert "# TYPE sdp_stream_records_total counter" in lines
    # Prometheus' own linter: exposition format and naming conventions.
    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
