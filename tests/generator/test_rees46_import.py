import orjson
import pytest

from generator.csv_input import InputFileError
from generator.producing import FileSink
from generator.rees46_import import MappingError, import_rees46, map_row
from generator.topics import topic

ROW = {
    "event_time": "2019-10-01 00:00:01 UTC",
    "event_type": "cart",
    "product_id": "17200506",
    "category_id": "2053013559792632471",
    "category_code": "furniture.living_room.sofa",
    "brand": "",
    "price": "543.1",
    "user_id": "519107250",
    "user_session": "566511c2-e2e3-422b-b695-cf8e6e792ca8",
}


def test_row_maps_onto_a_shopping_event():
    event = map_row(ROW, "f.csv:2")
    assert topic("shopping-events").validate(event) == []
    assert event["event_type"] == "add_cart"
    assert event["timestamp"] == "2019-10-01T00:00:01Z"
    assert event["price"] == 543.1 and event["brand"] is None
    assert (event["user_id"], event["session_id"]) == (ROW["user_id"], ROW["user_session"])
    assert event["category"] == "furniture.living_room.sofa" and event["source"] == "rees46"
    assert map_row(ROW, "f.csv:2")["event_id"] == event["event_id"], "re-imports give the same id"
    assert map_row(ROW, "f.csv:3")["event_id"] != event["event_id"]


@pytest.mark.parametrize(
    ("source", "mapped"), [("view", "view"), ("cart", "add_cart"), ("purchase", "purchase")]
)
def test_event_types_map(source, mapped):
    assert map_row({**ROW, "event_type": source}, "f:1")["event_type"] == mapped


def test_unmappable_rows_say_why():
    with pytest.raises(MappingError, match="'remove_from_cart' has no shopping-events equivalent"):
        map_row({**ROW, "event_type": "remove_from_cart"}, "f:1")
    with pytest.raises(MappingError, match="'yesterday' is not a date-time"):
        map_row({**ROW, "event_time": "yesterday"}, "f:1")


def import_to_file(path, out):
    sink = FileSink(out)
    try:
        rows = import_rees46(path, sink)
    finally:
        sink.close()
    return rows, [orjson.loads(line) for line in out.read_bytes().splitlines()]


def test_import_publishes_every_row_keyed_by_user(fixtures, tmp_path):
    rows, lines = import_to_file(fixtures / "rees46" / "2019-Oct-slice.csv", tmp_path / "out.jsonl")
    assert rows == len(lines) == 40
    assert {line["topic"] for line in lines} == {"shopping-events"}
    assert {line["value"]["event_type"] for line in lines} == {"view", "add_cart", "purchase"}
    assert all(line["key"] == line["value"]["user_id"] for line in lines)


def test_bad_rows_go_to_the_dead_letter_topic(fixtures, tmp_path):
    source = (fixtures / "rees46" / "2019-Oct-slice.csv").read_text(encoding="utf-8")
    header, first, *_ = source.splitlines()
    broken = tmp_path / "broken.csv"
    broken.write_text(
        "\n".join(
            [
                header,
                first,
                first.replace(",view,", ",remove_from_cart,"),
                first.replace(",541312140,", ",,"),
                first[:40],
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    rows, lines = import_to_file(broken, tmp_path / "out.jsonl")
    assert rows == 4
    letters = [
        (line["value"]["source"], line["value"]["reason"])
        for line in lines
        if line["topic"] == "dead-letter"
    ]
    assert letters == [
        ("broken.csv:3", "event_type 'remove_from_cart' has no shopping-events equivalent"),
        ("broken.csv:4", "user_id: '' should be non-empty"),
        ("broken.csv:5", "expected 9 fields, got 4"),
    ]
    assert sum(line["topic"] == "shopping-events" for line in lines) == 1


def test_wrong_header_is_named(tmp_path):
    path = tmp_path / "clicks.csv"
    path.write_text("time,type\n1,2\n")
    with pytest.raises(InputFileError, match=r"clicks.csv: wrong header \['time', 'type'\]"):
        import_to_file(path, tmp_path / "out.jsonl")


def test_real_rees46_slice(shared_datasets, tmp_path):
    rows, lines = import_to_file(
        shared_datasets / "rees46" / "2019-Oct-sample.csv", tmp_path / "out.jsonl"
    )
    assert rows == 17435
    letters = [line["value"] for line in lines if line["topic"] == "dead-letter"]
    assert [d["reason"] for d in letters] == ["expected 9 fields, got 8"], (
        "only the truncated last line"
    )
    assert len(lines) - len(letters) == 17434
