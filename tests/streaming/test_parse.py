"""Every record becomes a bronze row or a dead letter with its reason; nothing else."""

from datetime import UTC, datetime

import pytest
from pyspark.sql import functions as F

from jobs.streaming.parse import RAW_VALUE, REASON, classify, dead_letters, good_rows
from tests.streaming.conftest import (
    KAFKA_COLUMNS,
    NOW,
    encode,
    event,
    kafka_rows,
    values_by_topic,
)


def reasons(spark, spec, values):
    classified = classify(kafka_rows(spark, spec.topic, values), spec, 60)
    return [r[REASON] for r in classified.orderBy("offset").collect()]


def test_generated_records_are_all_good(spark, stream_spec, generated):
    for name, values in values_by_topic(generated).items():
        spec = stream_spec[name]
        classified = classify(kafka_rows(spark, name, values), spec, 60 * 24 * 365 * 10)
        bad = classified.where(F.col(REASON).isNotNull()).select(REASON, "value").take(3)
        assert bad == [], (name, bad)
        good = good_rows(classified, spec, F.lit(NOW))
        assert good.count() == len(values)
        assert good.where(F.col(RAW_VALUE).isNotNull()).count() == 0  # every field known
        assert {"_kafka_topic", "_kafka_partition", "_kafka_offset", "_ingested_at"} <= set(
            good.columns
        )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "empty message"),
        (b'{"event_id": "e1", "price": 1.0', "malformed JSON: not a JSON object"),
        (b"[1, 2]", "malformed JSON: not a JSON object"),
        (b'{"event_id": "\xff\xfe"}', "invalid UTF-8"),
        (encode({k: v for k, v in event().items() if k not in ("event_id", "price")}),
         "missing required fields: event_id, price"),
        (encode(event(price="cheap")), 'price: not a number: cheap'),
        (encode(event(timestamp="yesterday")), "timestamp: not a string: yesterday"),
        (encode(event(event_type="refund")),
         "event_type: refund is not one of search, view, add_cart, purchase"),
        (encode(event(price=-1)), "price: -1.00 is beyond the minimum 0"),
        (encode(event(user_id=None)), "user_id: null is not allowed"),
        (encode(event(event_id="")), "event_id: shorter than 1 character(s)"),
        (encode(event(timestamp="2024-05-01T06:00:00Z")),
         "timestamp in the future: 2024-05-01 06:00:00"),
        (encode(event()), None),
    ],
)  # fmt: skip
def test_each_kind_of_bad_record_has_its_reason(spark, stream_spec, value, expected):
    assert reasons(spark, stream_spec["shopping-events"], [value]) == [expected]


def test_the_future_is_judged_by_the_kafka_timestamp_the_same_on_a_replay(spark, stream_spec):
    # Two hours after the record's Kafka timestamp, but long past by the clock: a replay (any
    # later attempt at the batch) must reject it again, as the first attempt did.
    spec = stream_spec["shopping-events"]
    ahead = encode(event(timestamp="2024-05-01T06:00:00Z"))
    for _attempt in range(2):
        assert reasons(spark, spec, [ahead]) == ["timestamp in the future: 2024-05-01 06:00:00"]
    # Within the allowed minutes of the record's own Kafka timestamp it is good.
    later = spark.createDataFrame(
        [(spec.topic, 0, 0, datetime(2024, 5, 1, 5, 30, tzinfo=UTC), b"k", ahead)], KAFKA_COLUMNS
    )
    assert classify(later, spec, 60).collect()[0][REASON] is None


def test_dead_letters_keep_raw_bytes_and_where_they_were(spark, stream_spec):
    spec = stream_spec["shopping-events"]
    values = [encode(event()), b"\xff not json", encode(event(price="x"))]
    classified = classify(kafka_rows(spark, spec.topic, values), spec, 60)
    dead = dead_letters(classified, spec, F.lit(NOW)).orderBy("kafka_offset").collect()
    assert [(d.kafka_offset, d.stage, d.intended_topic) for d in dead] == [
        (1, "stream", "shopping-events"),
        (2, "stream", "shopping-events"),
    ]
    assert bytes(dead[0].value) == b"\xff not json"
    assert good_rows(classified, spec, F.lit(NOW)).count() + len(dead) == len(values)


def test_producer_rejects_keep_their_reason_and_source(spark, stream_spec):
    spec = stream_spec["dead-letter"]
    reject = {"topic": "olist.orders", "reason": "expected 9 fields, got 8",
              "source": "orders.csv:17", "payload": "[]",
              "ingest_time": "2024-05-01T00:00:00Z"}  # fmt: skip
    classified = classify(kafka_rows(spark, "dead-letter", [encode(reject), b"oops"]), spec, 60)
    dead = dead_letters(classified, spec, F.lit(NOW)).orderBy("kafka_offset").collect()
    assert [(d.stage, d.intended_topic, d.reason, d.source) for d in dead] == [
        ("source", "olist.orders", "expected 9 fields, got 8", "orders.csv:17"),
        ("stream", "dead-letter", "malformed JSON: not a JSON object", None),
    ]


def test_a_record_with_fields_the_schema_lacks_lands_with_its_raw_value(
    spark, stream_spec, generated
):
    """A producer ahead of the stream's schema: the unknown field's value is kept, not dropped."""
    session = next(r for t, _, r in generated if t == "sessions" and r["events"])
    records = {
        "shopping-events": [event(), event(coupon="C10"), event(device={"type": "web", "dark": 1}),
                            event(context={"referrer": None, "campaign": {"id": "c", "ab": 2}})],
        "sessions": [session, {**session, "events": [*session["events"], {**session["events"][0],
                                                                          "scroll": 0.5}]}],
    }  # fmt: skip
    for topic, values in records.items():
        spec = stream_spec[topic]
        classified = classify(kafka_rows(spark, topic, [encode(v) for v in values]), spec, 1e9)
        rows = good_rows(classified, spec, F.lit(NOW)).orderBy("_kafka_offset").collect()
        assert [r[RAW_VALUE] for r in rows] == [None] + [encode(v).decode() for v in values[1:]]
