"""End to end on the platform `make up` builds: generator → Kafka → the streaming job (a systemd
unit on the container host, submitted to the Spark master) → Iceberg on MinIO and PostgreSQL.

Every run uses its own seed and a start time just behind the clock, so its events, windows and
offsets are its own even when the platform already holds data of earlier runs.
"""

import json
import random
import re
import time
import urllib.request
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from sdp.platform import settings
from sdp.platform.checks import kafka_client, prometheus_query, serving_connection
from sdp.platform.inventory import LOCAL_INVENTORY
from tests.conftest import needs_container_hosts, sdp

pytestmark = [pytest.mark.integration, needs_container_hosts]

WINDOW = timedelta(minutes=5)
INVENTORY = str(LOCAL_INVENTORY)


def generate(
    tmp: Path, name: str, count: int, start: datetime, seed: int, rate: float = 100
) -> list[dict]:
    out = tmp / f"{name}.jsonl"
    result = sdp(
        "generate", "--out", str(out), "--count", str(count), "--seed", str(seed),
        "--start", start.isoformat(), "--unpaced", "--rate", str(rate),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [orjson.loads(line) for line in out.read_bytes().splitlines()]


def produce(inv, messages: list[tuple[str, bytes | None, bytes | None]]) -> list[tuple]:
    """(topic, partition, offset) of each message, produced with acks=all."""
    from confluent_kafka import Producer

    delivered: list[tuple | None] = [None] * len(messages)

    def on_delivery(i: int):
        def report(err, msg):
            delivered[i] = (err, msg.topic(), msg.partition(), msg.offset())

        return report

    producer = Producer({**kafka_client(inv), "acks": "all", "linger.ms": 20})
    for i, (topic, key, value) in enumerate(messages):
        producer.produce(topic, value, key, on_delivery=on_delivery(i))
        producer.poll(0)
    assert producer.flush(60) == 0
    assert all(d is not None and d[0] is None for d in delivered), [
        d for d in delivered if d is None or d[0]
    ][:3]
    return [d[1:] for d in delivered]


def as_messages(records: list[dict]) -> list[tuple]:
    return [(r["topic"], (r.get("key") or "").encode(), orjson.dumps(r["value"])) for r in records]


# Reconciliations audit the records of this test session only: the audit of everything a used
# platform's Kafka holds takes half a minute per call (5.5M records), this a few seconds.
SESSION_START = datetime.now(UTC) - timedelta(minutes=1)


def reconcile(wait: float = 300) -> dict:
    result = sdp(
        "stream", "reconcile", "-i", INVENTORY, "--json", "--wait", str(wait),
        "--since", SESSION_START.isoformat(),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def serving(platform):
    with serving_connection(platform) as conn:
        yield conn


def window_of(ts: str) -> datetime:
    t = datetime.fromisoformat(ts)
    return t - timedelta(minutes=t.minute % 5, seconds=t.second, microseconds=t.microsecond)


def purchase_sums(events: list[dict]) -> dict[datetime, Decimal]:
    sums: dict[datetime, Decimal] = defaultdict(Decimal)
    for e in events:
        if e["event_type"] == "purchase":
            sums[window_of(e["timestamp"])] += Decimal(str(e["price"]))
    return dict(sums)


def between(field: str, lo: datetime, hi: datetime) -> str:
    """A scan's row filter for [lo, hi): it reads only the files of those days and times, so a
    check costs the same on a platform that already holds millions of rows."""
    return f"{field} >= '{lo.isoformat()}' and {field} < '{hi.isoformat()}'"


def event_times(produced: list[dict]) -> tuple[datetime, datetime]:
    """[first, last] event time of this run's shopping events, as a half-open range."""
    times = [
        datetime.fromisoformat(r["value"]["timestamp"])
        for r in produced if r["topic"] == "shopping-events"
    ]  # fmt: skip
    return min(times), max(times) + timedelta(microseconds=1)


def check_gold_revenue(lake, serving, produced: list[dict]) -> None:
    """Gold revenue per window = the sum of this run's purchase prices in it, in Iceberg and in
    PostgreSQL (`fresh_start` keeps other runs out of these windows)."""
    expected = purchase_sums([r["value"] for r in produced if r["topic"] == "shopping-events"])
    lo, hi = min(expected), max(expected) + WINDOW
    gold = lake.load_table("gold.sales_by_category")
    in_gold: dict[datetime, Decimal] = defaultdict(Decimal)
    for row in gold.scan(row_filter=between("window_start", lo, hi)).to_arrow().to_pylist():
        in_gold[row["window_start"]] += row["revenue"]
    assert dict(in_gold) == expected
    rows = serving.execute(
        "SELECT window_start, sum(revenue) FROM serving.sales_by_category "
        "WHERE window_start >= %s AND window_start < %s GROUP BY window_start",
        (lo, hi),
    ).fetchall()
    assert dict(rows) == expected


def fresh_start(lake) -> datetime:
    """A start time whose windows no earlier run touched and the watermark has not closed: the
    first window boundary after the newest event the stream has seen (once it has caught up
    with Kafka), and at most 30 minutes back."""
    from pyiceberg.exceptions import NoSuchTableError

    reconcile()
    newest = datetime.now(UTC) - timedelta(minutes=30)
    try:
        log = lake.load_table("ops.stream_batches").scan(selected_fields=("watermark",))
        marks = [w for w in log.to_arrow()["watermark"].to_pylist() if w is not None]
    except NoSuchTableError:
        marks = []
    if marks:  # watermark = newest event time − 10 minutes (the role's default)
        newest = max(newest, max(marks) + timedelta(minutes=10))
    start = window_of(newest.isoformat()) + WINDOW
    # The stream takes events up to its future limit ahead of their Kafka time; a run's events
    # span minutes. Earlier `sdp generate --speed` runs may have reached well ahead of now.
    future = settings.role("spark", "spark_stream_future_minutes")
    limit = datetime.now(UTC) + timedelta(minutes=future - 10)
    assert start < limit, (
        f"earlier runs' events reach {start}, beyond what the stream accepts now ({limit}, "
        f"{future} minutes ahead less 10): run again after {start - limit + datetime.now(UTC)}"
    )
    return start


def assert_exactly_once(lake, produced: list[dict], offsets: list[tuple]) -> None:
    """Each produced shopping event once in bronze (by offset) and once in silver (by id)."""
    own = [
        (o[1], o[2]) for r, o in zip(produced, offsets, strict=True)
        if r["topic"] == "shopping-events"
    ]  # fmt: skip
    times = between("timestamp", *event_times(produced))
    bronze = (
        lake.load_table("bronze.shopping_events")
        .scan(row_filter=times, selected_fields=("_kafka_partition", "_kafka_offset"))
        .to_arrow()
    )
    landed = Counter(
        zip(
            bronze["_kafka_partition"].to_pylist(), bronze["_kafka_offset"].to_pylist(), strict=True
        )
    )
    assert [k for k in own if landed[k] != 1] == []
    ids = {r["value"]["event_id"] for r in produced if r["topic"] == "shopping-events"}
    silver = lake.load_table("silver.shopping_events").scan(
        row_filter=times, selected_fields=("event_id",)
    )
    silver_ids = silver.to_arrow()["event_id"]
    mine = pc.filter(silver_ids, pc.is_in(silver_ids, value_set=pa.array(list(ids))))
    assert len(mine) == len(ids) == len(set(mine.to_pylist()))


BAD_EVENTS = {
    "malformed JSON: not a JSON object": b'{"event_id": "x", ',
    "invalid UTF-8": b'{"event_id": "\xff\xfe"}',
    "missing required fields: ": b'{"event_id": "x", "event_type": "view"}',
    "price: not a number": None,  # filled from a real event below
    "timestamp in the future": None,
}


def bad_messages(good: dict) -> dict[str, bytes]:
    wrong_type = {**good, "event_id": f"bad-{random.getrandbits(48)}", "price": "cheap"}
    future = {**good, "event_id": f"bad-{random.getrandbits(48)}",
              "timestamp": (datetime.now(UTC) + timedelta(days=2)).isoformat()}  # fmt: skip
    return {
        **{k: v for k, v in BAD_EVENTS.items() if v is not None},
        "price: not a number": orjson.dumps(wrong_type),
        "timestamp in the future": orjson.dumps(future),
    }


DEAD_LETTER_SAMPLE = re.compile(
    r'^sdp_stream_dead_letters_total\{topic="shopping-events",reason="([^"]*)"\} (\S+)$', re.M
)


def stream_counters(inv) -> tuple[float, Counter]:
    """The driver's own counters, read from its endpoint: batches, and dead letters of
    shopping-events per reason (its field or check). Prometheus is not asked for the counts:
    after a Prometheus restart it still shows, for five minutes, the last values of a driver
    that has gone, and a new driver's count equal to them would look like no increase."""
    url = f"http://{inv.first_address('spark_master')}:{settings.platform('stream_metrics_port')}"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    batches = re.search(r"^sdp_stream_batches_total (\S+)$", text, re.M)
    dead = Counter({r: float(n) for r, n in DEAD_LETTER_SAMPLE.findall(text)})
    return float(batches.group(1)) if batches else 0.0, dead


def check_stream_metrics(inv, bad: dict, before: tuple, offsets: list[tuple]) -> None:
    """The driver counts each dead letter under its reason's kind, Prometheus scrapes them, and
    the stream's offsets there reach past the records produced (what the lag is computed from)."""
    ends: dict[tuple, int] = {}
    for topic, partition, offset in offsets:
        ends[(topic, str(partition))] = max(ends.get((topic, str(partition)), 0), offset + 1)
    expected = Counter(reason.split(": ")[0] for reason in bad)
    deadline = time.monotonic() + 60  # a scrape every 15 s
    while True:
        batches, dead = stream_counters(inv)
        dead_before = before[1] if batches >= before[0] else Counter()  # a restart resets them
        grown = {kind: dead[kind] - dead_before[kind] - n for kind, n in expected.items()}
        scraped = prometheus_query(
            inv, 'sum by (reason) (sdp_stream_dead_letters_total{topic="shopping-events"}) > 0'
        )
        unscraped = set(expected) - {dict(labels)["reason"] for labels in scraped}
        stream = prometheus_query(inv, "sdp_stream_offset")
        at = {(dict(k)["topic"], dict(k)["partition"]): v for k, v in stream.items()}
        behind = {tp: (at.get(tp), end) for tp, end in ends.items() if at.get(tp, -1) < end}
        done = all(n >= 0 for n in grown.values()) and not unscraped and not behind
        if done or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert all(n >= 0 for n in grown.values()), f"dead letters not counted by the driver: {grown}"
    assert not unscraped, f"not in Prometheus: {unscraped}"
    assert not behind, behind
    lag = prometheus_query(inv, 'sdp_stream:lag_records{topic="shopping-events"}')
    assert lag and all(v >= 0 for v in lag.values()), lag


def test_events_land_in_bronze_silver_gold_and_serving_bad_ones_in_dead_letter(
    platform, lake, serving, tmp_path
):
    seed = random.randrange(1 << 30)
    produced = generate(tmp_path, "first", 1500, fresh_start(lake), seed)
    good_event = next(r["value"] for r in produced if r["topic"] == "shopping-events")
    bad = bad_messages(good_event)
    sent = datetime.now(UTC) - timedelta(minutes=1)  # the clocks are the same machine's
    counters_before = stream_counters(platform)
    offsets = produce(platform, as_messages(produced))
    bad_offsets = produce(platform, [("shopping-events", b"u", v) for v in bad.values()])

    report = reconcile()
    assert all(t["ok"] for t in report["topics"]), report
    assert_exactly_once(lake, produced, offsets)
    check_gold_revenue(lake, serving, produced)
    check_stream_metrics(platform, bad, counters_before, offsets + bad_offsets)

    dead = lake.load_table("bronze.dead_letter").scan(
        row_filter=between("ingest_time", sent, datetime.now(UTC))
    )
    dead = dead.to_arrow().to_pylist()
    by_offset = {(d["kafka_topic"], d["kafka_partition"], d["kafka_offset"]): d for d in dead}
    for (expected_reason, raw), where in zip(bad.items(), bad_offsets, strict=True):
        row = by_offset[where]
        assert row["reason"].startswith(expected_reason), (expected_reason, row["reason"])
        assert row["value"] == raw and row["stage"] == "stream"


def test_kill_and_restart_loses_and_duplicates_nothing(platform, lake, serving, tmp_path):
    seed = random.randrange(1 << 30)
    produced = generate(tmp_path, "second", 6000, fresh_start(lake), seed)
    messages = as_messages(produced)
    host = ["hosts", "ssh", INVENTORY, "sdp-local", "--"]

    def restarts() -> int:
        shown = sdp(*host, "systemctl", "show", "-p", "NRestarts", "--value", "sdp-stream")
        return int(shown.stdout.strip() or 0)

    before = restarts()
    half = len(messages) // 2
    offsets = produce(platform, messages[:half])
    # SIGKILL in the middle of the stream's work: the first half is being processed.
    time.sleep(4)
    killed = sdp(*host, "systemctl", "kill", "--signal=SIGKILL", "sdp-stream")
    assert killed.returncode == 0, killed.stderr
    offsets += produce(platform, messages[half:])
    # systemd restarts the unit (Restart=always); the job resumes from its checkpoint.
    report = reconcile(wait=420)
    assert all(t["ok"] for t in report["topics"]), report
    assert_exactly_once(lake, produced, offsets)
    check_gold_revenue(lake, serving, produced)
    # One restart, the kill's: a replayed batch does not stop the job again (SPARK-55271).
    assert restarts() - before == 1


def rows(lake, table: str) -> int:
    """The table's row count from its snapshot summary: a compaction keeps it, reading no data."""
    snapshot = lake.load_table(table).current_snapshot()
    return int(snapshot.summary["total-records"]) if snapshot else 0


def test_maintenance_while_the_stream_runs_keeps_every_row(platform, lake, tmp_path):
    tables = ["lake.bronze.shopping_events", "lake.silver.shopping_events",
              "lake.gold.sales_by_category", "lake.bronze.dead_letter"]  # fmt: skip
    before = rows(lake, "bronze.shopping_events")
    seed = random.randrange(1 << 30)
    produced = generate(tmp_path, "third", 2000, fresh_start(lake), seed)
    offsets = produce(platform, as_messages(produced))  # the stream works while maintenance runs
    args = [a for t in tables for a in ("--table", t)]
    result = sdp("stream", "maintain", "-i", INVENTORY, "--", *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert sorted(line.split()[1] for line in result.stdout.splitlines()) == sorted(tables)
    report = reconcile()
    assert all(t["ok"] for t in report["topics"]), report
    assert_exactly_once(lake, produced, offsets)
    own = sum(1 for r in produced if r["topic"] == "shopping-events")
    assert rows(lake, "bronze.shopping_events") == before + own
