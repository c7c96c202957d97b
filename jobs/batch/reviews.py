"""Korean review analysis: Kiwi's morphemes against an e-commerce sentiment lexicon.

A review is split into sentences and tokenised by kiwipiepy (its model is a wheel of the bundle,
so nothing is downloaded at run time). A sentence's score is the sum of its lexicon words'
weights, positive minus negative; a word right before 않/못하 or right after 안/못 counts with
its sign flipped (나쁘진 않아요, 비추천). A sentence belongs to every aspect one of its words names
(배송 → delivery), and gives that aspect its score's sign: positive, negative or neutral.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

LEXICON = Path(__file__).with_name("review_lexicon.tsv")
KINDS = ("positive", "negative", "aspect")
# Content morphemes (nouns, verb and adjective stems, roots, adverbs); particles and endings are
# never lexicon words.
CONTENT_TAGS = ("NN", "VA", "VV", "XR", "MAG", "IC")
# Morphemes that flip the sign of the word next to them.
NEGATION_BEFORE = {("안", "MAG"), ("못", "MAG"), ("비", "XPN")}  # 안 좋아요, 비추천
NEGATION_AFTER = {("않", "VX"), ("못하", "VX")}  # 좋지 않아요


class LexiconError(ValueError):
    """The lexicon file cannot be used; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class Lexicon:
    weights: dict[str, float] = field(default_factory=dict)  # word → +weight or -weight
    aspects: dict[str, str] = field(default_factory=dict)  # word → aspect

    @classmethod
    def load(cls, path: Path = LEXICON) -> "Lexicon":
        weights, aspects = {}, {}
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise LexiconError(f"{path}: {exc.strerror}") from None
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            where = f"{path}:{number}"
            if len(parts) != 3 or parts[0] not in KINDS or not parts[1]:
                raise LexiconError(f"{where}: expected kind<TAB>word<TAB>value, kind one of "
                                   f"{', '.join(KINDS)}; got {line!r}")  # fmt: skip
            kind, word, value = parts
            if kind == "aspect":
                aspects[word] = value
                continue
            try:
                weight = float(value)
            except ValueError:
                raise LexiconError(f"{where}: weight {value!r} is not a number") from None
            weights[word] = weight if kind == "positive" else -weight
        return cls(weights, aspects)


@dataclass(frozen=True)
class Sentence:
    score: float
    aspects: tuple[str, ...]
    words: tuple[tuple[str, float], ...]  # the lexicon words as counted (sign after negation)


def score_sentence(tokens: list[tuple[str, str]], lexicon: Lexicon) -> Sentence:
    """(form, tag) morphemes of one sentence → its score, aspects and counted words."""
    negations = NEGATION_BEFORE | NEGATION_AFTER
    kept = [
        (f, t.split("-")[0]) for f, t in tokens if t.startswith(CONTENT_TAGS) or (f, t) in negations
    ]
    words, aspects = [], []
    for i, (form, tag) in enumerate(kept):
        if form in lexicon.aspects and lexicon.aspects[form] not in aspects:
            aspects.append(lexicon.aspects[form])
        weight = lexicon.weights.get(form)
        if weight is None or (form, tag) in negations:
            continue
        if (i > 0 and kept[i - 1] in NEGATION_BEFORE) or (
            i + 1 < len(kept) and kept[i + 1] in NEGATION_AFTER
        ):
            weight = -weight
        words.append((form, weight))
    return Sentence(sum(w for _, w in words), tuple(aspects), tuple(words))


class Analyser:
    """Kiwi loaded once (about a second), then any number of reviews."""

    def __init__(self, lexicon: Lexicon):
        from kiwipiepy import Kiwi  # in the Spark hosts' virtualenv (the bundle's spark wheels)

        self.kiwi = Kiwi()
        self.lexicon = lexicon

    def sentences(self, text: str) -> list[Sentence]:
        found = []
        for sentence in self.kiwi.split_into_sents(text, return_tokens=True):
            tokens = [(t.form, t.tag) for t in sentence.tokens]
            found.append(score_sentence(tokens, self.lexicon))
        return found


ANALYSED = (
    "review_id string, product_id string, rating int, score double, "
    "aspects array<struct<aspect: string, score: double>>, "
    "words array<struct<word: string, weight: double>>"
)


def _analyse_partition(rows: Iterable, lexicon: Lexicon) -> Iterator[tuple]:
    analyser = Analyser(lexicon)
    for review_id, product_id, rating, text in rows:
        sentences = analyser.sentences(text or "")
        yield (
            review_id, product_id, rating, float(sum(s.score for s in sentences)),
            [(a, float(s.score)) for s in sentences for a in s.aspects],
            [(w, float(weight)) for s in sentences for w, weight in s.words],
        )  # fmt: skip


def analyse(reviews: DataFrame, lexicon: Lexicon) -> DataFrame:
    """One row per review: its score, (aspect, sentence score) pairs and counted words. Runs on
    the executors, Kiwi loaded once per partition."""
    rows = reviews.select("review_id", "product_id", "rating", "text").rdd
    analysed = rows.mapPartitions(lambda part: _analyse_partition(part, lexicon))
    return reviews.sparkSession.createDataFrame(analysed, ANALYSED)


def _sign(score: F.Column) -> F.Column:
    return F.when(score > 0, "positive").when(score < 0, "negative").otherwise("neutral")


def aspect_sentiment(analysed: DataFrame) -> DataFrame:
    """Per aspect: sentences naming it, how many were positive, negative, neutral, and the mean
    rating of the reviews that name it."""
    mentions = analysed.select("review_id", "rating", F.explode("aspects").alias("a"))
    per_review = mentions.groupBy("a.aspect", "review_id").agg(F.first("rating").alias("rating"))
    counts = mentions.groupBy(F.col("a.aspect").alias("aspect")).agg(
        F.count(F.lit(1)).alias("mentions"),
        *[
            F.count(F.when(_sign(F.col("a.score")) == s, 1)).alias(s)
            for s in ("positive", "negative", "neutral")
        ],
    )
    ratings = per_review.groupBy("aspect").agg(F.round(F.avg("rating"), 3).alias("avg_rating"))
    return counts.join(ratings, "aspect")


def word_counts(analysed: DataFrame) -> DataFrame:
    """How often each lexicon word counted, by the polarity it counted with."""
    words = analysed.select(F.explode("words").alias("w"))
    return words.groupBy(
        _sign(F.col("w.weight")).alias("polarity"), F.col("w.word").alias("word")
    ).agg(F.count(F.lit(1)).alias("count"))


def rating_distribution(reviews: DataFrame) -> DataFrame:
    return reviews.groupBy("rating").agg(F.count(F.lit(1)).alias("reviews"))


def product_ratings(analysed: DataFrame) -> DataFrame:
    return analysed.groupBy("product_id").agg(
        F.count(F.lit(1)).alias("reviews"),
        F.round(F.avg("rating"), 3).alias("avg_rating"),
        F.round(F.avg("score"), 3).alias("avg_sentiment"),
    )
