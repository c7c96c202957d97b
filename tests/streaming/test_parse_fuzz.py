"""Bad input at the edges, generated: whatever bytes a producer sends, each record becomes exactly
one bronze row or one dead letter, and classifying them never fails the batch. Hypothesis draws
batches of random bytes, JSON of any shape (deep nesting, long strings, numbers beyond every
type), valid records with one field replaced or one added, and text in both Unicode normal
forms; each batch runs through the stream's transforms on the local SparkSession."""

import json
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from jobs.streaming.parse import classify, dead_letters, good_rows
from tests.streaming.conftest import NOW, encode, event, kafka_rows

TOPICS = ("shopping-events", "sessions", "olist.orders")

leaf = st.one_of(
    st.none(), st.booleans(), st.text(max_size=20),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),  # NaN and Infinity are not JSON
    st.sampled_from(["", " ", "2024-05-01T03:59:00Z", "24:61", "-0", "1e400", "가구", "\x00"]),
)  # fmt: skip
anything = st.recursive(
    leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                        max_size=4),
    max_leaves=20,
)  # fmt: skip


def dumps(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def nested(depth: int) -> bytes:
    """An object nested `depth` deep in its `device` field (JSON parsers bound the depth)."""
    return b'{"event_id": "e", "device": ' + b'{"a": ' * depth + b"1" + b"}" * (depth + 1)


@st.composite
def records(draw) -> bytes | None:
    base = event()
    kind = draw(st.sampled_from(["bytes", "json", "replaced", "added", "unicode", "edge"]))
    if kind == "bytes":
        return draw(st.one_of(st.none(), st.binary(max_size=120)))
    if kind == "json":
        return dumps(draw(anything))
    if kind == "replaced":
        return dumps({**base, draw(st.sampled_from(sorted(base))): draw(anything)})
    if kind == "added":
        where = draw(st.sampled_from(["top", "device", "context"]))
        extra = {draw(st.text(min_size=1, max_size=8)): draw(anything)}
        if where == "top":
            return dumps({**extra, **base})
        return dumps({**base, where: {**base[where], **extra}})
    if kind == "unicode":
        form = draw(st.sampled_from(["NFC", "NFD", "NFKD"]))
        return dumps({**base, "category": unicodedata.normalize(form, draw(st.sampled_from(
            ["가구", "디지털/가전", "패션의류"])))})  # fmt: skip
    return draw(st.sampled_from([
        nested(40), nested(2000), dumps({**base, "brand": "x" * 200_000}),
        dumps({**base, "price": 10**40}), dumps({**base, "price": "1e400"}),
        dumps({**base, "timestamp": "+294247-01-10T04:00:54Z"}), b"{}", b"null", b'"text"',
        encode(base)[:-1], encode(base) + b" trailing", b'{"a": 1, "a": 2}',
    ]))  # fmt: skip


@pytest.mark.parametrize("topic", TOPICS)
@settings(
    max_examples=8, deadline=None, derandomize=True,  # the same batches in every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(values=st.lists(records(), min_size=1, max_size=40))
def test_every_record_is_one_row_or_one_dead_letter_and_the_batch_never_fails(
    spark, stream_spec, topic, values
):
    spec = stream_spec[topic]
    classified = classify(kafka_rows(spark, topic, values), spec, 60).cache()
    try:
        # Every column of both outputs computed, as the batch's writes compute them.
        good = good_rows(classified, spec, F.lit(NOW)).collect()
        dead = dead_letters(classified, spec, F.lit(NOW)).collect()
    finally:
        classified.unpersist()
    landed = sorted([r._kafka_offset for r in good] + [d.kafka_offset for d in dead])
    assert landed == list(range(len(values)))  # each offset once: never both, never neither
    assert all(d.reason for d in dead)
