"""The stream's own metrics, served for Prometheus by the driver (job `stream`).

Spark's metrics system knows rates and durations but not what this job knows: records, dead
letters (by reason) and late records per topic, and the Kafka offsets each batch ended at, which
Prometheus turns into the stream's lag with the brokers' log end offsets. The counters count from
the driver's start; Prometheus' rate() takes their resets in its stride. Standard library only:
the driver's host has pyspark and nothing else.
"""

import threading
from collections import Counter
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "sdp_stream_"
# name: (type, help)
METRICS = {
    "records_total": ("counter", "Kafka records the stream landed (bronze or dead letters)."),
    "dead_letters_total": (
        "counter",
        "Records sent to the dead-letter table, by reason's field or check.",
    ),
    "late_records_total": ("counter", "Good records of closed windows (silver, not gold)."),
    "batches_total": ("counter", "Micro-batches with records."),
    "batch_duration_seconds": ("gauge", "Duration of the last micro-batch (trigger execution)."),
    "trigger_seconds": ("gauge", "The trigger interval: a batch longer than this falls behind."),
    "input_rows_per_second": ("gauge", "Rate at which records arrived, last micro-batch."),
    "processed_rows_per_second": ("gauge", "Rate at which the last micro-batch processed them."),
    "last_progress_timestamp_seconds": ("gauge", "When the query last reported progress."),
    "offset": ("gauge", "Kafka offset up to which the stream has processed, per partition."),
}


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels) + "}" if labels else ""


def progress_values(progress: dict) -> dict[str, dict[tuple, float]]:
    """Gauges from a StreamingQueryProgress's JSON (`json.loads(query.lastProgress.json)`:
    PySpark's own object turns each source's offsets into the text of a Python dict)."""
    offsets: dict[tuple, float] = {}
    for source in progress.get("sources", []):
        end = source.get("endOffset")
        if isinstance(end, dict):  # Kafka: {topic: {partition: offset}}
            for topic, partitions in end.items():
                for partition, offset in partitions.items():
                    offsets[(("topic", topic), ("partition", str(partition)))] = float(offset)
    values = {
        "input_rows_per_second": {(): float(progress.get("inputRowsPerSecond") or 0)},
        "processed_rows_per_second": {(): float(progress.get("processedRowsPerSecond") or 0)},
        "last_progress_timestamp_seconds": {
            (): datetime.fromisoformat(progress["timestamp"].replace("Z", "+00:00")).timestamp()
        },
        "offset": offsets,
    }
    duration = (progress.get("durationMs") or {}).get("triggerExecution")
    if duration is not None and progress.get("numInputRows"):
        values["batch_duration_seconds"] = {(): duration / 1000}
    return values


class StreamMetrics:
    """What the Prometheus endpoint shows; the batches and the driver's main loop update it."""

    def __init__(self, trigger_seconds: float):
        self._lock = threading.Lock()
        self._counters: dict[str, Counter] = {
            name: Counter() for name, (kind, _) in METRICS.items() if kind == "counter"
        }
        self._gauges: dict[str, dict[tuple, float]] = {"trigger_seconds": {(): trigger_seconds}}

    def batch(
        self, per_topic: dict[str, tuple[int, int]], dead_by_reason: dict[tuple[str, str], int]
    ) -> None:
        """One micro-batch: (records, late) per topic, dead letters per (topic, reason kind)."""
        with self._lock:
            self._counters["batches_total"][()] += 1
            for topic, (records, late) in per_topic.items():
                self._counters["records_total"][(("topic", topic),)] += records
                self._counters["late_records_total"][(("topic", topic),)] += late
            for (topic, reason), n in dead_by_reason.items():
                self._counters["dead_letters_total"][(("topic", topic), ("reason", reason))] += n

    def progress(self, progress: dict) -> None:
        values = progress_values(progress)
        with self._lock:
            self._gauges.update(values)

    def render(self) -> str:
        lines = []
        with self._lock:
            for name, (kind, help_text) in METRICS.items():
                series = self._counters.get(name) or self._gauges.get(name)
                if not series:
                    continue
                lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} {kind}"]
                lines += [
                    f"{PREFIX}{name}{_labels(k)} {float(v)!r}" for k, v in sorted(series.items())
                ]
        return "\n".join(lines) + "\n"

    def serve(self, address: str) -> ThreadingHTTPServer:
        """Serve the metrics at HOST:PORT (any path) from a daemon thread."""
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = metrics.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # a scrape every 15 s would flood the journal
                pass

        host, port = address.rsplit(":", 1)
        server = ThreadingHTTPServer((host, int(port)), Handler)
        threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
        return server
