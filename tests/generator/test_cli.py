from collections import Counter

import orjson
import pytest
from typer.testing import CliRunner

from generator.kafka_login import from_env
from sdp.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def topics_of(path):
    return Counter(orjson.loads(line)["topic"] for line in path.read_bytes().splitlines())


def test_generate_to_a_file_is_reproducible(tmp_path):
    args = [
        "generate",
        "--count",
        "400",
        "--seed",
        "9",
        "--start",
        "2024-05-01T12:00:00Z",
        "--unpaced",
        "--validate-every",
        "1",
    ]
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    result = invoke(*args, "--out", str(first))
    assert result.exit_code == 0, result.output
    assert "shopping-events: 400 sent, 0 failed" in result.output
    assert topics_of(first)["shopping-events"] == 400
    assert invoke(*args, "--out", str(second)).exit_code == 0
    assert first.read_bytes() == second.read_bytes()


def test_generate_with_a_corpus_uses_its_texts(fixtures, tmp_path):
    out = tmp_path / "a.jsonl"
    corpus = fixtures / "korean_reviews" / "naver_shopping_head40.csv"
    result = invoke(
        "generate",
        "--count",
        "5000",
        "--speed",
        "60",
        "--seed",
        "1",
        "--unpaced",
        "--corpus",
        str(corpus),
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    corpus_texts = set(corpus.read_text(encoding="utf-8").split("\n"))
    reviews = [
        orjson.loads(line)["value"]
        for line in out.read_bytes().splitlines()
        if b'"topic":"reviews"' in line
    ]
    assert reviews and any(f"{r['rating']},{r['text']}" in corpus_texts for r in reviews)


def test_unreachable_broker_is_named_with_the_timeout():
    result = invoke(
        "generate", "--count", "1", "--bootstrap", "127.0.0.1:1", "--connect-timeout", "1"
    )
    assert result.exit_code == 2
    assert "cannot reach a Kafka broker at 127.0.0.1:1 within 1s" in result.output


def test_a_kafka_login_takes_its_password_from_the_environment_only(monkeypatch):
    monkeypatch.delenv("SDP_KAFKA_PASSWORD", raising=False)
    result = invoke("generate", "--count", "1", "--bootstrap", "127.0.0.1:1",
                    "--kafka-user", "generator")  # fmt: skip
    assert result.exit_code == 2
    assert "--kafka-user generator needs its password in SDP_KAFKA_PASSWORD" in result.output
    monkeypatch.setenv("SDP_KAFKA_PASSWORD", "secret")
    assert from_env("b:9092", "generator") == {
        "bootstrap.servers": "b:9092", "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "generator", "sasl.password": "secret",
    }  # fmt: skip
    assert from_env("b:9092", None) == {
        "bootstrap.servers": "b:9092",
        "security.protocol": "PLAINTEXT",
    }
    monkeypatch.setenv("SDP_KAFKA_CA", "/nowhere/ca.crt")
    with pytest.raises(ValueError, match=r"SDP_KAFKA_CA: /nowhere/ca\.crt is not a file"):
        from_env("b:9092", "generator")


def test_bad_arguments_are_named(tmp_path):
    result = invoke(
        "generate", "--count", "1", "--start", "2024-05-01T12:00:00", "--out", str(tmp_path / "x")
    )
    assert result.exit_code == 2 and "needs a zone" in result.output
    result = invoke(
        "generate",
        "--count",
        "1",
        "--corpus",
        str(tmp_path / "none.txt"),
        "--out",
        str(tmp_path / "x"),
    )
    assert result.exit_code == 2 and "none.txt does not exist" in result.output
    result = invoke("generate", "--count", "1")
    assert result.exit_code == 2 and "--bootstrap" in result.output


def test_import_and_replay_report_missing_inputs(tmp_path):
    result = invoke("import", "rees46", str(tmp_path / "clicks.csv"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "clicks.csv does not exist" in result.output
    result = invoke(
        "replay", "olist", "--dir", str(tmp_path / "olist"), "--out", str(tmp_path / "o")
    )
    assert result.exit_code == 2 and "olist does not exist" in result.output


def test_replay_olist_and_import_rees46_to_files(fixtures, tmp_path):
    state = tmp_path / "state.json"
    replay = [
        "replay",
        "olist",
        "--dir",
        str(fixtures / "olist"),
        "--speed",
        "0",
        "--state",
        str(state),
    ]
    result = invoke(*replay, "--out", str(tmp_path / "olist.jsonl"))
    assert result.exit_code == 0, result.output
    assert topics_of(tmp_path / "olist.jsonl")["olist.customers"] == 33
    again = invoke(*replay, "--out", str(tmp_path / "again.jsonl"))
    assert again.exit_code == 0 and "replayed already" in again.output
    result = invoke(
        "import",
        "rees46",
        str(fixtures / "rees46" / "2019-Oct-slice.csv"),
        "--out",
        str(tmp_path / "r.jsonl"),
    )
    assert result.exit_code == 0, result.output
    assert topics_of(tmp_path / "r.jsonl") == {"shopping-events": 40}
