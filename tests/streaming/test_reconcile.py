"""Reconciliation arithmetic: processed ranges, missing and duplicated offsets."""

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import typer

from sdp.platform.cli import moment
from sdp.stream.reconcile import LANDED, Checkpoint, parse_offsets_file, pending, reconcile_topic

OFFSETS_FILE = """v1
{"batchWatermarkMs":0,"batchTimestampMs":1732390000000,"conf":{}}
{"shopping-events":{"1":7,"0":5},"reviews":{"0":2}}"""


def landed(*rows: tuple[int, int], topic: str = "shopping-events") -> pa.Table:
    return pa.Table.from_pylist(
        [{"topic": topic, "partition": p, "offset": o} for p, o in rows], schema=LANDED
    )


def test_offsets_file_is_read_per_topic_and_partition():
    assert parse_offsets_file(OFFSETS_FILE) == {
        "shopping-events": {0: 5, 1: 7},
        "reviews": {0: 2},
    }


def test_not_an_offsets_file_is_named():
    with pytest.raises(ValueError, match="not a streaming offsets file"):
        parse_offsets_file('{"a": 1}')


def test_everything_processed_once_reconciles():
    r = reconcile_topic(
        "shopping-events",
        kafka={0: (0, 3)},
        committed={0: 3},
        bronze=landed((0, 0), (0, 2)),
        dead=landed((0, 1)),
    )
    assert (r.in_kafka, r.processed, r.pending, r.bronze, r.dead_letter) == (3, 3, 0, 2, 1)
    assert r.ok


def test_missing_duplicated_and_pending_are_counted():
    r = reconcile_topic(
        "shopping-events",
        kafka={0: (10, 20), 1: (0, 4)},
        committed={0: 15, 1: 4},
        # partition 0: 10, 11, 11 (dup), 13 (12 and 14 missing); 16 is past the committed end
        bronze=landed((0, 10), (0, 11), (0, 11), (0, 13), (0, 16), (1, 0), (1, 1), (1, 2)),
        dead=landed((1, 3)),
    )
    assert (r.processed, r.pending, r.missing, r.duplicates) == (9, 5, 2, 1)
    assert not r.ok


def test_offsets_below_the_log_start_are_not_counted():
    """Retention removed offsets 0-9: rows landed for them are history, not duplicates."""
    r = reconcile_topic("t", kafka={0: (10, 12)}, committed={0: 12},
                        bronze=landed((0, 5), (0, 10), (0, 11)), dead=landed())  # fmt: skip
    assert r.ok and r.bronze == 2


def test_pending_counts_from_the_committed_end_or_the_start_if_later():
    checkpoint = Checkpoint(3, {"t": {0: 15, 1: 4}}, in_flight=False)
    # partition 0: 15..19 pending; partition 1 starts (since) at 6, past the committed end 4
    assert pending({"t": {0: (10, 20), 1: (6, 9)}}, checkpoint) == 5 + 3


def test_a_time_option_takes_a_time_ago_or_a_zoned_time_and_names_the_option_otherwise():
    assert moment("2026-12-05T00:00:00+00:00", "--since") == datetime(2026, 12, 5, tzinfo=UTC)
    ago = datetime.now(UTC) - moment("30m", "--since")
    assert timedelta(minutes=29) < ago < timedelta(minutes=31)
    for bad in ("yesterday", "2026-12-05T00:00:00", "5w"):
        with pytest.raises(typer.BadParameter, match="neither a time ago"):
            moment(bad, "--since")
