"""The Korean review analysis: the lexicon file, sentence scoring, and Kiwi on real review lines
(the project's Naver Shopping fixture; the whole corpus in ../shared when present)."""

import csv
from pathlib import Path

import pytest

from jobs.batch import reviews
from jobs.batch.reviews import Lexicon, LexiconError, score_sentence
from sdp.paths import REPO_ROOT

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "korean_reviews" / "naver_shopping_head40.csv"


def test_the_lexicon_file_loads_and_a_bad_line_is_named(tmp_path):
    lexicon = Lexicon.load()
    assert lexicon.weights["빠르"] == 1 and lexicon.weights["느리"] == -1
    assert lexicon.aspects["배송"] == "delivery" and lexicon.aspects["포장"] == "packaging"
    bad = tmp_path / "lexicon.tsv"
    bad.write_text("# mine\npositive\t좋\t1\npositive 좋 1\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=rf"{bad}:3: expected kind<TAB>word<TAB>value"):
        Lexicon.load(bad)
    bad.write_text("negative\t나쁘\tvery\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r":1: weight 'very' is not a number"):
        Lexicon.load(bad)
    with pytest.raises(LexiconError, match="No such file"):
        Lexicon.load(tmp_path / "missing.tsv")


def test_a_sentence_scores_its_words_flips_negated_ones_and_names_its_aspects():
    lexicon = Lexicon({"좋": 1.0, "나쁘": -1.0, "추천": 1.0}, {"배송": "delivery"})
    # 배송이 좋아요
    tokens = [("배송", "NNG"), ("이", "JKS"), ("좋", "VA"), ("어요", "EF")]
    assert score_sentence(tokens, lexicon) == reviews.Sentence(1.0, ("delivery",), (("좋", 1.0),))
    # 나쁘지 않아요: negated after
    tokens = [("나쁘", "VA"), ("지", "EC"), ("않", "VX"), ("어요", "EF")]
    assert score_sentence(tokens, lexicon).score == 1.0
    # 안 좋아요, 비추천: negated before
    assert score_sentence([("안", "MAG"), ("좋", "VA"), ("어요", "EF")], lexicon).score == -1.0
    assert score_sentence([("비", "XPN"), ("추천", "NNG")], lexicon).score == -1.0
    # 아깝 tagged VA-I (an irregular stem): the tag's class counts
    assert score_sentence([("좋", "VA-I")], lexicon).score == 1.0


def labelled(path: Path, limit: int | None = None) -> list[tuple[bool, str]]:
    """(positive, text) of a Naver Shopping CSV: `rating,review` (4-5 stars positive, 1-2
    negative, 3 left out) or `,review,label` (1 positive)."""
    with path.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))[:limit]
    if "label" in rows[0]:
        return [(r["label"] == "1", r["review"]) for r in rows]
    return [(int(r["rating"]) >= 4, r["review"]) for r in rows if r["rating"] != "3"]


def mean_scores(lines: list[tuple[bool, str]]) -> tuple[float, float]:
    """Mean review score of the positive reviews and of the negative ones."""
    analyser = reviews.Analyser(Lexicon.load())
    scores: dict[bool, list[float]] = {True: [], False: []}
    for positive, text in lines:
        scores[positive].append(sum(s.score for s in analyser.sentences(text)))
    return sum(scores[True]) / len(scores[True]), sum(scores[False]) / len(scores[False])


def test_kiwi_on_real_reviews_scores_good_ones_above_bad_ones():
    good, bad = mean_scores(labelled(FIXTURE))
    print(f"fixture (40 reviews): mean score 4-5 stars {good:.2f}, 1-2 stars {bad:.2f}")
    assert good > 0 > bad


def test_kiwi_on_the_naver_corpus_scores_good_ones_above_bad_ones(shared_datasets):
    corpus = shared_datasets / "korean_reviews" / "naver_shopping_subset2500_minvv23.csv"
    good, bad = mean_scores(labelled(corpus))
    print(f"{corpus.name}: mean score positive {good:.2f}, negative {bad:.2f}")
    assert good > 0 > bad


def test_aspects_words_and_ratings_of_reviews_on_spark(spark):
    rows = [
        ("r1", "P1", 5, "배송이 정말 빨라요. 포장이 꼼꼼하게 되어 있었어요."),
        ("r2", "P1", 1, "배송이 너무 늦어요. 돈이 아까워요."),
        ("r3", "P2", 3, "포장은 평범해요."),
    ]
    written = spark.createDataFrame(
        rows, "review_id string, product_id string, rating int, text string"
    )
    analysed = reviews.analyse(written, Lexicon.load()).cache()
    aspects = {r.aspect: (r.mentions, r.positive, r.negative, r.neutral, r.avg_rating)
               for r in reviews.aspect_sentiment(analysed).collect()}  # fmt: skip
    assert aspects == {
        "delivery": (2, 1, 1, 0, 3.0),
        "packaging": (2, 1, 0, 1, 4.0),
        "price": (1, 0, 1, 0, 1.0),
    }
    words = {(r.polarity, r.word): r["count"] for r in reviews.word_counts(analysed).collect()}
    assert words == {("positive", "빠르"): 1, ("positive", "꼼꼼"): 1, ("negative", "늦"): 1,
                     ("negative", "아깝"): 1}  # fmt: skip
    products = {r.product_id: (r.reviews, r.avg_rating) for r in
                reviews.product_ratings(analysed).collect()}  # fmt: skip
    assert products == {"P1": (2, 3.0), "P2": (1, 3.0)}
