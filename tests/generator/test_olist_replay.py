import shutil
import time
from collections import Counter, defaultdict

import orjson
import pytest

from generator.csv_input import InputFileError
from generator.olist_replay import (
    DEAD,
    FILES,
    Pacing,
    PlanEntry,
    ReplayState,
    build_plan,
    fingerprint,
    order_changes,
    read_tables,
    replay,
)
from generator.producing import FileSink
from generator.topics import topic

NO_PACING = Pacing(speed=0, max_gap_s=0)


@pytest.fixture
def olist(fixtures):
    return fixtures / "olist"


def check_plan_invariants(tables, plan):
    """The ordering promises of the replay, on any consistent Olist input."""
    position, child_positions = {}, defaultdict(list)
    for i, e in enumerate(plan):
        position.setdefault((e.table, str(e.values[topic(f"olist.{e.table}").key])), i)
        if e.table in ("order_items", "order_payments"):
            child_positions[e.table, e.values["order_id"]].append(i)
    # Every row once, except orders: one change per status, the last equal to the CSV row.
    counts = Counter(e.table for e in plan if e.op in ("r", "c"))
    assert counts == {t: len(rows) for t, rows in tables.items() if rows}
    last_change = {e.values["order_id"]: e.values for e in plan if e.table == "orders"}
    assert last_change == {r.values["order_id"]: r.values for r in tables["orders"]}
    items = defaultdict(list)
    for item in tables["order_items"]:
        items[item.values["order_id"]].append(item.values)
    children = Counter(
        (t, r.values["order_id"]) for t in ("order_items", "order_payments") for r in tables[t]
    )
    created = {}
    for i, e in enumerate(plan):
        if e.table == "orders" and e.op == "c":
            oid = e.values["order_id"]
            created[oid] = (i, e.at)
            refs = [("customers", e.values["customer_id"])]
            refs += [
                (t, item[k])
                for item in items[oid]
                for t, k in (("products", "product_id"), ("sellers", "seller_id"))
            ]
            for ref in refs:
                assert position[ref] < i, ref
            for child in ("order_items", "order_payments"):
                before = [j for j in child_positions[child, oid] if j < i]
                assert len(before) == children[child, oid]
        if e.table == "order_reviews":
            order_pos, order_at = created[e.values["order_id"]]
            assert order_pos < i and e.at >= order_at
    timed = [e.at for e in plan if e.op != "r"]
    assert timed == sorted(timed), "inserts and updates in source-time order"


def test_fixture_plan_keeps_every_ordering_promise(olist):
    tables, dead = read_tables(olist)
    assert dead == []
    plan = build_plan(tables, dead)
    check_plan_invariants(tables, plan)
    assert Counter(e.table for e in plan)["orders"] > len(tables["orders"])


def test_order_changes_walk_the_statuses():
    order = {
        "order_id": "o1",
        "customer_id": "c1",
        "order_status": "canceled",
        "order_purchase_timestamp": "2017-01-01T10:00:00Z",
        "order_approved_at": "2017-01-01T11:00:00Z",
        # Earlier than the approval: the real data has such rows.
        "order_delivered_carrier_date": "2016-12-31T00:00:00Z",
        "order_delivered_customer_date": None,
        "order_estimated_delivery_date": "2017-01-20T00:00:00Z",
    }
    changes = order_changes(order)
    assert [(op, row["order_status"]) for _, op, row in changes] == [
        ("c", "created"),
        ("u", "approved"),
        ("u", "shipped"),
        ("u", "canceled"),
    ]
    times = [at for at, _, _ in changes]
    assert times == sorted(times)
    assert changes[0][2]["order_approved_at"] is None
    assert changes[-1][2] == order


def replay_to_file(plan, path, state, **kwargs):
    sink = FileSink(path)
    try:
        return replay(plan, sink, state, NO_PACING, **kwargs)
    finally:
        sink.close()


def read_jsonl(path):
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_replay_publishes_valid_records_in_plan_order(olist, tmp_path):
    tables, dead = read_tables(olist)
    plan = build_plan(tables, dead)
    out = tmp_path / "out.jsonl"
    assert replay_to_file(plan, out, ReplayState(tmp_path / "state.json", "x")) == (0, len(plan))
    lines = read_jsonl(out)
    assert [line["value"]["_seq"] for line in lines] == list(range(len(plan)))
    for line in lines:
        t = topic(line["topic"])
        assert t.validate(line["value"]) == []
        assert line["key"] == str(line["value"][t.key])
    assert {line["topic"] for line in lines} == {f"olist.{t}" for t in FILES}


def test_replay_resumes_where_it_stopped(olist, tmp_path):
    tables, dead = read_tables(olist)
    plan = build_plan(tables, dead)
    state = ReplayState(tmp_path / "state.json", fingerprint(olist))
    first_out, second_out = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    published = iter(range(10**9))
    assert replay_to_file(
        plan, first_out, state, checkpoint_every=50, should_stop=lambda: next(published) >= 123
    ) == (0, 123)
    assert state.load() == 123
    assert replay_to_file(plan, second_out, state) == (123, len(plan))
    seqs = [line["value"]["_seq"] for line in read_jsonl(first_out) + read_jsonl(second_out)]
    assert seqs == list(range(len(plan)))
    assert replay_to_file(plan, tmp_path / "3.jsonl", state) == (len(plan), len(plan))


def test_state_of_another_input_is_refused(olist, tmp_path):
    path = tmp_path / "state.json"
    ReplayState(path, "other input").save(10)
    with pytest.raises(InputFileError, match="belongs to another input; pass --restart"):
        ReplayState(path, fingerprint(olist)).load()


def test_pacing_follows_speed_with_a_cap(tmp_path):
    day = 86400.0
    plan = [
        PlanEntry(
            "product_category_name_translation",
            "r",
            at,
            {"product_category_name": f"c{at}", "product_category_name_english": "x"},
            "f:1",
        )
        for at in (0.0, day, day, 3 * day)
    ]
    started = time.monotonic()
    sink = FileSink(tmp_path / "o.jsonl")
    # One day of source time takes 0.1 s; the two-day gap is capped at 0.15 s.
    replay(
        plan, sink, ReplayState(tmp_path / "s.json", "x"), Pacing(speed=10 * day, max_gap_s=0.15)
    )
    assert 0.25 <= time.monotonic() - started < 0.5


def copy_olist(olist, tmp_path):
    folder = tmp_path / "olist"
    shutil.copytree(olist, folder)
    return folder


def test_unreadable_rows_go_to_the_dead_letter_topic_with_a_reason(olist, tmp_path):
    folder = copy_olist(olist, tmp_path)
    items = folder / FILES["order_items"]
    lines = items.read_text(encoding="utf-8").splitlines(keepends=True)
    fields = lines[1].split(",")
    fields[5] = "cheap"  # price
    lines[1] = ",".join(fields)
    lines.append("only,three,fields\n")
    items.write_text("".join(lines), encoding="utf-8")
    tables, dead = read_tables(folder)
    assert len(tables["order_items"]) == len(lines) - 3
    reasons = [(e.source, e.values["reason"]) for e in dead]
    assert reasons == [
        (f"{items.name}:2", "price: 'cheap' is not a number"),
        (f"{items.name}:{len(lines)}", "expected 7 fields, got 3"),
    ]
    plan = build_plan(tables, dead)
    assert [e.table for e in plan[:2]] == [DEAD, DEAD]
    out = tmp_path / "out.jsonl"
    replay_to_file(plan, out, ReplayState(tmp_path / "s.json", "x"))
    letters = [line["value"] for line in read_jsonl(out) if line["topic"] == "dead-letter"]
    assert [(d["topic"], d["source"], d["reason"]) for d in letters] == [
        ("olist.order_items", s, r) for s, r in reasons
    ]
    assert all(topic("dead-letter").validate(d) == [] for d in letters)


def test_records_breaking_the_schema_are_dead_lettered_when_published(olist, tmp_path):
    folder = copy_olist(olist, tmp_path)
    orders = folder / FILES["orders"]
    text = orders.read_text(encoding="utf-8")
    first_status = text.splitlines()[1].split(",")[2]
    orders.write_text(text.replace(f",{first_status},", ",lost_in_space,", 1), encoding="utf-8")
    tables, dead = read_tables(folder)
    out = tmp_path / "out.jsonl"
    replay_to_file(build_plan(tables, dead), out, ReplayState(tmp_path / "s.json", "x"))
    letters = [line["value"] for line in read_jsonl(out) if line["topic"] == "dead-letter"]
    assert len(letters) == 1
    assert "order_status: 'lost_in_space' is not one of" in letters[0]["reason"]


def test_missing_file_and_wrong_header_are_named(olist, tmp_path):
    folder = copy_olist(olist, tmp_path)
    (folder / FILES["sellers"]).unlink()
    with pytest.raises(
        InputFileError, match=r"lacks the Olist files \['olist_sellers_dataset.csv'\]"
    ):
        read_tables(folder)
    shutil.copy(olist / FILES["sellers"], folder / FILES["sellers"])
    payments = folder / FILES["order_payments"]
    payments.write_text(payments.read_text().replace("payment_value", "value", 1))
    with pytest.raises(
        InputFileError,
        match=r"payments_dataset.csv: wrong header .*"
        r"missing \['payment_value'\]; unexpected \['value'\]",
    ):
        read_tables(folder)
    with pytest.raises(InputFileError, match="does not exist"):
        read_tables(tmp_path / "nowhere")


def test_real_olist_subset_keeps_every_ordering_promise(shared_datasets):
    tables, dead = read_tables(shared_datasets / "olist" / "subset")
    assert dead == []
    assert len(tables["orders"]) == 8135
    check_plan_invariants(tables, build_plan(tables, dead))
