import random
import re

import pytest

from generator.review_text import (
    CorpusError,
    ReviewTexts,
    compose_review,
    load_corpus,
    load_templates,
)

HANGUL = re.compile("[가-힣]")


@pytest.mark.parametrize("rating", [1, 2, 3, 4, 5])
def test_composed_reviews_are_korean_and_end_on_the_overall_verdict(rating):
    templates = load_templates()
    for seed in range(20):
        text = compose_review(random.Random(seed), templates, rating, "운동화")
        assert text.strip() and HANGUL.search(text)
        assert text.encode("utf-8").decode("utf-8") == text
        assert any(text.endswith(s + ".") for s in templates["overall"][rating])
        assert "{item}" not in text


def test_reviews_sample_the_corpus_by_rating(fixtures):
    corpus = load_corpus(fixtures / "korean_reviews" / "naver_shopping_head40.csv")
    texts = ReviewTexts(random.Random(1), corpus)
    for _ in range(20):
        assert texts.text(5, "운동화") in corpus[5]
        assert texts.text(1, "운동화") in corpus[1]
    assert not corpus[3]
    assert HANGUL.search(texts.text(3, "운동화")), "a rating the corpus lacks is composed"


def test_naver_tab_format(tmp_path):
    path = tmp_path / "naver_shopping.txt"
    path.write_text("5\t배송 빠르고 좋아요\n1\t별로예요\n\n", encoding="utf-8")
    corpus = load_corpus(path)
    assert corpus[5] == ["배송 빠르고 좋아요"] and corpus[1] == ["별로예요"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("reviews.txt", "5 좋아요\n", r"reviews.txt:1: expected 'rating<TAB>text'"),
        ("reviews.txt", "9\t좋아요\n", r"reviews.txt:1: rating 9 is outside 1-5"),
        ("reviews.txt", "five\t좋아요\n", r"rating 'five' is not a whole number"),
        ("reviews.csv", ",review,label\n0,좋아요,1\n", r"needs a rating column"),
        ("reviews.csv", "rating,review\n5,\n", r"has no non-empty texts"),
    ],
)
def test_bad_corpus_files_are_named_with_the_problem(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=message):
        load_corpus(path)


def test_missing_corpus_is_named(tmp_path):
    with pytest.raises(CorpusError, match=r"nope.txt does not exist"):
        load_corpus(tmp_path / "nope.txt")


def test_real_naver_corpus(shared_datasets):
    corpus = load_corpus(
        shared_datasets / "korean_reviews" / "naver_shopping_head216_sangsucki.csv"
    )
    assert sum(map(len, corpus.values())) == 216
    assert all(HANGUL.search(t) for texts in corpus.values() for t in texts)
