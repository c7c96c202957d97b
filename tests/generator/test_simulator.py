import itertools
import re
from collections import Counter, defaultdict

import orjson
import pytest

from generator.catalog import load_catalog
from generator.simulator import QUERIES, REVIEWS, SESSIONS, SHOPPING, Simulator
from generator.topics import topic
from generator.traffic import SaleSwitch

START = 1_714_532_400  # 2024-05-01 12:00 KST
HANGUL = re.compile("[가-힣]")


def run(steps: int, seed: int = 11, **kwargs) -> list[tuple[str, bytes, dict]]:
    sim = Simulator(load_catalog(), seed=seed, start=START, rate=50, speed=60, **kwargs)
    records = [r for _ in range(steps) for r in sim.step()]
    return records + sim.close_sessions()


@pytest.fixture(scope="module")
def stream():
    records = run(6000)
    by_topic = defaultdict(list)
    for name, key, record in records:
        by_topic[name].append((key, record))
    return by_topic


def test_every_generated_kind_matches_its_schema(stream):
    assert set(stream) == {SHOPPING, QUERIES, SESSIONS, REVIEWS}
    for name, records in stream.items():
        t = topic(name)
        for key, record in records:
            assert t.validate(record) == [], (name, record)
            assert key == str(record[t.key]).encode()


def test_funnel_is_coherent_within_each_session(stream):
    sessions = [doc for _, doc in stream[SESSIONS]]
    events = {e["event_id"]: e for _, e in stream[SHOPPING]}
    in_sessions = [e["event_id"] for doc in sessions for e in doc["events"]]
    assert sorted(in_sessions) == sorted(events), "each event in exactly one session document"
    for doc in sessions:
        viewed, cart, last_view = {}, [], None
        assert doc["events"][0]["event_type"] in ("search", "view")
        for e in doc["events"]:
            full = events[e["event_id"]]
            assert (full["session_id"], full["user_id"], full["device"]) == (
                doc["session_id"],
                doc["user_id"],
                doc["device"],
            )
            assert doc["started_at"] <= e["timestamp"] <= doc["ended_at"]
            if e["event_type"] == "view":
                assert viewed.setdefault(e["product_id"], e["price"]) == e["price"]
                last_view = e
            elif e["event_type"] == "add_cart":
                assert (e["product_id"], e["price"]) == (
                    last_view["product_id"],
                    last_view["price"],
                )
                cart.append(e["product_id"])
            elif e["event_type"] == "purchase":
                assert e["product_id"] == cart.pop()
                assert e["price"] == viewed[e["product_id"]], "purchase price = view price"
        timestamps = [e["timestamp"] for e in doc["events"]]
        assert timestamps == sorted(timestamps)


def test_users_keep_their_device_and_one_session_at_a_time(stream):
    devices, open_session = {}, {}
    for _, e in stream[SHOPPING]:
        assert devices.setdefault(e["user_id"], e["device"]) == e["device"]
    for _, doc in stream[SESSIONS]:
        open_session.setdefault(doc["user_id"], []).append((doc["started_at"], doc["ended_at"]))
    for spans in open_session.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start


def test_conversion_is_realistic(stream):
    types = Counter(e["event_type"] for _, e in stream[SHOPPING])
    assert 0.02 < types["purchase"] / types["view"] < 0.10
    assert 0.05 < types["add_cart"] / types["view"] < 0.20
    assert types["purchase"] < types["add_cart"] < types["view"]
    buying = sum(
        any(e["event_type"] == "purchase" for e in d["events"]) for _, d in stream[SESSIONS]
    )
    assert 0.05 < buying / len(stream[SESSIONS]) < 0.25


def test_prices_have_two_decimals_and_match_the_catalog(stream):
    catalog = {p.product_id: p for p in load_catalog().products}
    for _, e in stream[SHOPPING]:
        if e["event_type"] == "search":
            assert e["product_id"] is None and e["price"] is None
            continue
        product = catalog[e["product_id"]]
        assert (e["category"], e["brand"]) == (product.category, product.brand)
        assert round(e["price"], 2) == e["price"] and 0 < e["price"] <= product.price


def test_each_search_has_its_query(stream):
    searches = {e["event_id"]: e for _, e in stream[SHOPPING] if e["event_type"] == "search"}
    queries = {q["event_id"]: q for _, q in stream[QUERIES]}
    assert searches.keys() == queries.keys()
    for event_id, q in queries.items():
        assert q["category"] == searches[event_id]["category"]
        assert (
            HANGUL.search(q["query"])
            or q["query"].split()[0] in load_catalog().categories[q["category"]].brands
        )


def test_reviews_follow_a_purchase_of_the_same_user_and_product(stream):
    purchases = {e["event_id"]: e for _, e in stream[SHOPPING] if e["event_type"] == "purchase"}
    assert stream[REVIEWS]
    for _, review in stream[REVIEWS]:
        purchase = purchases[review["purchase_event_id"]]
        assert (review["user_id"], review["product_id"]) == (
            purchase["user_id"],
            purchase["product_id"],
        )
        assert review["created_at"] > purchase["timestamp"]
        assert review["text"].encode("utf-8").decode("utf-8") == review["text"]
        assert HANGUL.search(review["text"])


def test_same_seed_same_stream_and_another_seed_another():
    first = [orjson.dumps(r) for _, _, r in run(1500, seed=3)]
    assert first == [orjson.dumps(r) for _, _, r in run(1500, seed=3)]
    assert first != [orjson.dumps(r) for _, _, r in run(1500, seed=4)]


def test_sale_sessions_carry_the_sale_campaign_and_discounts():
    catalog = load_catalog()
    records = run(3000, sale=SaleSwitch(on=True))
    events = [r for name, _, r in records if name == SHOPPING]
    on_sale = [e for e in events if e["context"]["campaign"] == catalog.sale_campaign]
    assert 0.7 < len(on_sale) / len(events) < 0.9
    list_price = {p.product_id: p.price for p in catalog.products}
    discounted = [e for e in on_sale if e["price"] is not None]
    assert all(
        0.69 * list_price[e["product_id"]] <= e["price"] <= 0.91 * list_price[e["product_id"]]
        for e in discounted
    )
