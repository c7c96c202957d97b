"""Korean review texts: composed from aspect templates, or sampled from a real corpus by rating."""

import csv
import random
from pathlib import Path

import yaml

from generator.catalog import DATA_DIR

ASPECTS = ("delivery", "quality", "packaging", "overall")
RATINGS = (1, 2, 3, 4, 5)


class CorpusError(ValueError):
    """The review corpus file cannot be used; the message names the file and the problem."""


def load_templates(
    path: Path = DATA_DIR / "review_templates.yml",
) -> dict[str, dict[int, list[str]]]:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    templates = {aspect: {int(r): list(s) for r, s in spec[aspect].items()} for aspect in ASPECTS}
    for aspect, by_rating in templates.items():
        missing = set(RATINGS) - by_rating.keys()
        if missing:
            raise ValueError(
                f"{path}: aspect {aspect} has no sentences for ratings {sorted(missing)}"
            )
    return templates


def compose_review(
    rng: random.Random, templates: dict[str, dict[int, list[str]]], rating: int, item: str
) -> str:
    """2 to 4 aspect sentences of `rating` in random order, always ending on the overall verdict."""
    aspects = rng.sample(ASPECTS[:3], rng.randint(1, 3))
    sentences = [rng.choice(templates[a][rating]).format(item=item) for a in aspects]
    sentences.append(rng.choice(templates["overall"][rating]))
    return ". ".join(sentences) + "."


def _rating(value: str, where: str) -> int:
    try:
        rating = int(value.strip())
    except ValueError:
        raise CorpusError(f"{where}: rating {value!r} is not a whole number") from None
    if rating not in RATINGS:
        raise CorpusError(f"{where}: rating {rating} is outside 1-5")
    return rating


def _read_tab_lines(path: Path) -> list[tuple[int, str]]:
    """Naver Shopping's corpus format: `rating<TAB>text` per line, no header."""
    out = []
    with path.open(encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            rating, sep, text = line.rstrip("\r\n").partition("\t")
            if not sep:
                raise CorpusError(f"{path}:{number}: expected 'rating<TAB>text'")
            out.append((_rating(rating, f"{path}:{number}"), text.strip()))
    return out


def _read_csv(path: Path) -> list[tuple[int, str]]:
    """A CSV with a header naming a rating column (rating/score) and a text column (text/review)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header = [h.strip().lower() for h in reader.fieldnames or []]
        rating_col = next((h for h in ("rating", "score") if h in header), None)
        text_col = next((h for h in ("text", "review", "document") if h in header), None)
        if rating_col is None or text_col is None:
            raise CorpusError(
                f"{path}: header {reader.fieldnames} needs a rating column (rating or score) "
                "and a text column (text, review or document)"
            )
        reader.fieldnames = header
        return [
            (
                _rating(row[rating_col] or "", f"{path}:{reader.line_num}"),
                (row[text_col] or "").strip(),
            )
            for row in reader
        ]


def load_corpus(path: Path) -> dict[int, list[str]]:
    """Real review texts by rating from a Naver-style `rating<TAB>text` file or a CSV."""
    if not path.is_file():
        raise CorpusError(f"review corpus {path} does not exist")
    rows = _read_csv(path) if path.suffix.lower() == ".csv" else _read_tab_lines(path)
    corpus: dict[int, list[str]] = {r: [] for r in RATINGS}
    for rating, text in rows:
        if text:
            corpus[rating].append(text)
    if not any(corpus.values()):
        raise CorpusError(f"review corpus {path} has no non-empty texts")
    return corpus


class ReviewTexts:
    """Text for a rating: a real one of that rating when the corpus has some, else composed."""

    def __init__(self, rng: random.Random, corpus: dict[int, list[str]] | None = None) -> None:
        self._rng = rng
        self._templates = load_templates()
        self._corpus = corpus or {}

    def text(self, rating: int, item: str) -> str:
        real = self._corpus.get(rating)
        if real:
            return self._rng.choice(real)
        return compose_review(self._rng, self._templates, rating, item)
