import pytest

from generator.olist_replay import FILES
from generator.schemas import SchemaError, load_schema, validator
from generator.schemas.convert import _convert, to_iceberg_schema, to_spark_schema
from generator.topics import load_topics, topic

EXPECTED_TOPICS = {
    "shopping-events",
    "reviews",
    "search-queries",
    "sessions",
    "dead-letter",
    *(f"olist.{table}" for table in FILES),
}


def test_topics_spec_lists_every_topic_with_a_valid_schema_and_key():
    topics = load_topics()
    assert set(topics) == EXPECTED_TOPICS
    for t in topics.values():
        schema = load_schema(t.schema)
        validator(t.schema)  # raises on an invalid JSON Schema
        assert t.key in schema["properties"], t.name
        assert t.key in schema["required"], t.name
        assert t.partitions >= 1
        assert t.retention_ms > 0


def test_olist_schemas_carry_the_cdc_metadata_from_common():
    schema = load_schema(topic("olist.orders").schema)
    for field in ("_op", "_seq", "_event_time", "_ingest_time", "order_id"):
        assert field in schema["properties"]
        assert field in schema["required"]
    assert "allOf" not in schema


def test_timestamps_must_carry_a_zone():
    review = {
        "review_id": "r1",
        "product_id": "P00001",
        "user_id": "u1",
        "purchase_event_id": "e1",
        "rating": 5,
        "text": "좋아요",
        "images": [],
        "created_at": "2024-05-01T10:00:00.000Z",
    }
    assert topic("reviews").validate(review) == []
    errors = topic("reviews").validate({**review, "created_at": "2024-05-01 10:00:00"})
    assert errors and "created_at" in errors[0]


def test_unknown_topic_names_the_known_ones():
    with pytest.raises(KeyError, match="shopping-events"):
        topic("no-such-topic")


def test_iceberg_schema_follows_the_json_schema():
    from pyiceberg import types as T

    schema = to_iceberg_schema("shopping-events")
    assert schema.find_field("price").field_type == T.DecimalType(12, 2)
    assert not schema.find_field("price").required
    assert schema.find_field("timestamp").field_type == T.TimestamptzType()
    assert schema.find_field("event_id").required
    device = schema.find_field("device")
    assert not device.required
    assert [f.name for f in device.field_type.fields] == ["type", "os", "app_version"]
    assert schema.find_field("context.campaign.name").field_type == T.StringType()
    events = to_iceberg_schema("sessions").find_field("events").field_type
    assert isinstance(events, T.ListType)
    price = next(f for f in events.element_type.fields if f.name == "price")
    assert price.field_type == T.DecimalType(12, 2)
    reviews = to_iceberg_schema("reviews")
    assert reviews.find_field("rating").field_type == T.LongType()
    assert reviews.find_field("images").field_type.element_type == T.StringType()


def test_every_topic_converts_to_iceberg():
    for name in EXPECTED_TOPICS:
        assert len(to_iceberg_schema(name).fields) == len(
            load_schema(topic(name).schema)["properties"]
        )


def test_spark_schema_follows_the_json_schema():
    pytest.importorskip("pyspark")
    from pyspark.sql import types as T

    schema = to_spark_schema("shopping-events")
    assert schema["price"].dataType == T.DecimalType(12, 2)
    assert schema["timestamp"].dataType == T.TimestampType()
    assert schema["device"].nullable
    assert schema["device"].dataType["app_version"].nullable
    assert not schema["event_id"].nullable
    events = to_spark_schema("sessions")["events"].dataType
    assert isinstance(events, T.ArrayType) and not events.containsNull
    assert to_spark_schema("olist.orders")["_seq"].dataType == T.LongType()
    for name in EXPECTED_TOPICS:
        assert len(to_spark_schema(name).fields) == len(
            load_schema(topic(name).schema)["properties"]
        )


def test_converter_rejects_what_it_cannot_map():
    types = {"object": list, "array": None, "string": str}
    with pytest.raises(SchemaError, match="exactly one non-null type"):
        _convert(
            {"type": "object", "properties": {"x": {"type": ["string", "integer"]}}}, "t", types
        )
    with pytest.raises(SchemaError, match="one schema and null"):
        _convert({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "t", types)


def test_renamed_fields_are_found_at_any_depth(monkeypatch):
    from generator.schemas import convert

    schema = {
        "type": "object",
        "properties": {
            "category": {"type": "string", "x-renamed-from": "cat"},
            "device": {"type": ["object", "null"], "properties": {
                "os_name": {"type": "string", "x-renamed-from": "os"}}},
            "items": {"type": "array", "items": {"type": "object", "properties": {
                "qty": {"type": "integer", "x-renamed-from": "quantity"}}}},
        },
    }  # fmt: skip
    monkeypatch.setattr(convert, "_topic_schema", lambda name: schema)
    assert convert.renamed_fields("t") == {
        "category": "cat", "device.os_name": "os", "items.element.qty": "quantity",
    }  # fmt: skip
    monkeypatch.undo()
    assert convert.renamed_fields("shopping-events") == {}
