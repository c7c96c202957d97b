"""The day's HTML report: one self-contained page (inline SVG charts, no script, no download)
from the day's gold rows, so it opens from MinIO, a mail or a laptop alike.

`render` is pure: gold rows in, HTML out. The job (daily.py report) reads the rows and writes the
page to REPORT_KEY in the gold bucket; `sdp report get DATE` downloads it.
"""

from collections.abc import Sequence
from decimal import Decimal
from html import escape

REPORT_KEY = "reports/daily_analytics/{day}.html"


def location(bucket_prefix: str, day) -> tuple[str, str]:
    """(bucket, key) of a day's page: the gold bucket, for the job and `sdp report get` alike."""
    return f"{bucket_prefix}gold", REPORT_KEY.format(day=day)


# Gold tables the page reads, all keyed by day.
TABLES = ("daily_metrics", "daily_sales", "daily_hourly_sales", "daily_funnel",
          "daily_review_aspects", "daily_review_words", "daily_ratings", "dq_results")  # fmt: skip
TOP_PRODUCTS = 10
TOP_WORDS = 12
STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222}
h1{margin-bottom:0}section{margin:2rem 0}.muted{color:#666}
table{border-collapse:collapse}
td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}
svg text{font-size:12px;fill:#333}.bar{fill:#3b7dd8}
.pos{fill:#2a9d5c}.neg{fill:#d8453b}.neu{fill:#aaa}
.fail{color:#d8453b;font-weight:bold}.ok{color:#2a9d5c}
"""
LABEL_WIDTH, BAR_WIDTH, ROW = 170, 330, 22


def number(value) -> str:
    """Counts with thousands separators, amounts with cents, rates (below 1) with 4 decimals."""
    if isinstance(value, float | Decimal) and value != int(value):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:,.2f}"
    return f"{int(value):,}"


def bars(rows: Sequence[tuple[str, float]], css: str = "bar") -> str:
    """Horizontal bars, one per (label, value); the largest spans the chart."""
    if not rows:
        return '<p class="muted">no data for this day</p>'
    top = max(float(v) for _, v in rows) or 1.0
    height = ROW * len(rows)
    out = [f'<svg class="chart" role="img" width="{LABEL_WIDTH + BAR_WIDTH + 90}" '
           f'height="{height}">']  # fmt: skip
    for i, (label, value) in enumerate(rows):
        y, width = i * ROW, BAR_WIDTH * float(value) / top
        out.append(
            f'<text x="0" y="{y + 15}">{escape(str(label))}</text>'
            f'<rect class="{css}" x="{LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" '
            f'height="{ROW - 6}"/><text x="{LABEL_WIDTH + width + 5:.1f}" y="{y + 15}">'
            f"{number(value)}</text>"
        )
    return "".join(out) + "</svg>"


def columns(values: Sequence[float], labels: Sequence[str]) -> str:
    """Vertical columns (the hours of a day), the largest 120 px high."""
    top = max((float(v) for v in values), default=0) or 1.0
    width, height = 24, 120
    out = [f'<svg class="chart" role="img" width="{width * len(values) + 10}" '
           f'height="{height + 20}">']  # fmt: skip
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        h = height * float(value) / top
        out.append(
            f'<rect class="bar" x="{i * width + 2}" y="{height - h:.1f}" width="{width - 4}" '
            f'height="{h:.1f}"><title>{escape(label)}: {number(value)}</title></rect>'
            f'<text x="{i * width + 4}" y="{height + 14}">{escape(label)}</text>'
        )
    return "".join(out) + "</svg>"


def stacked(rows: Sequence[tuple[str, int, int, int]]) -> str:
    """Per label, positive | negative | neutral counts side by side in one bar."""
    if not rows:
        return '<p class="muted">no reviews for this day</p>'
    top = max(p + n + z for _, p, n, z in rows) or 1
    out = [f'<svg class="chart" role="img" width="{LABEL_WIDTH + BAR_WIDTH + 150}" '
           f'height="{ROW * len(rows)}">']  # fmt: skip
    for i, (label, *counts) in enumerate(rows):
        y, x = i * ROW, float(LABEL_WIDTH)
        out.append(f'<text x="0" y="{y + 15}">{escape(label)}</text>')
        for css, count in zip(("pos", "neg", "neu"), counts, strict=True):
            width = BAR_WIDTH * count / top
            out.append(f'<rect class="{css}" x="{x:.1f}" y="{y + 3}" width="{width:.1f}" '
                       f'height="{ROW - 6}"><title>{css}: {count}</title></rect>')  # fmt: skip
            x += width
        out.append(f'<text x="{x + 5:.1f}" y="{y + 15}">+{counts[0]} / −{counts[1]} / '
                   f"{counts[2]}</text>")  # fmt: skip
    return "".join(out) + "</svg>"


def table(rows: Sequence[dict], columns_: Sequence[str]) -> str:
    if not rows:
        return '<p class="muted">no data for this day</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in columns_)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(r.get(c)))}</td>" for c in columns_) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | Decimal):
        return number(value)
    return str(value)


def _section(title: str, body: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{body}</section>"


def _by(rows: list[dict], key: str, descending: bool = False) -> list[dict]:
    return sorted(rows, key=lambda r: r[key] or 0, reverse=descending)


def _keywords(words: list[dict]) -> str:
    words = sorted(words, key=lambda r: (-r["count"], r["word"]))
    return "".join(
        f"<h3>{polarity}</h3>"
        + bars([(r["word"], r["count"]) for r in words if r["polarity"] == polarity][:TOP_WORDS],
               "pos" if polarity == "positive" else "neg")
        for polarity in ("positive", "negative")
    )  # fmt: skip


def _quality(results: list[dict]) -> str:
    failed = [r["check"] for r in results if not r["passed"]]
    verdict = (f'<p class="fail">failed: {escape(", ".join(failed))}</p>' if failed
               else '<p class="ok">every check passed</p>' if results else "")  # fmt: skip
    return verdict + table(_by(results, "check"), ["check", "observed", "threshold", "passed"])


def render(day: str, gold: dict[str, list[dict]]) -> str:
    """The page for one shop day from its gold rows (table name → rows, TABLES)."""
    rows = {name: gold.get(name, []) for name in TABLES}
    metrics = [
        {"metric": r["metric"], "value": r["value"]} for r in _by(rows["daily_metrics"], "metric")
    ]
    hourly = {r["hour"]: r["revenue"] or 0 for r in rows["daily_hourly_sales"]}
    funnel = rows["daily_funnel"]
    steps = [(step, sum(r[step] or 0 for r in funnel)) for step in ("views", "carts", "purchases")]
    top = _by(funnel, "revenue", descending=True)[:TOP_PRODUCTS]
    aspects = [(r["aspect"], r["positive"], r["negative"], r["neutral"])
               for r in _by(rows["daily_review_aspects"], "aspect")]  # fmt: skip
    sections = {
        "Headline": table(metrics, ["metric", "value"]),
        "Revenue by hour (shop time)": columns(
            [hourly.get(h, 0) for h in range(24)], [f"{h:02d}" for h in range(24)]),
        "Revenue by category": bars([(r["category"], r["revenue"] or 0)
                                     for r in _by(rows["daily_sales"], "revenue", True)]),
        "Funnel: views → carts → purchases": bars(steps),
        f"Top {TOP_PRODUCTS} products by revenue": table(
            top, ["product_id", "category", "views", "carts", "purchases", "revenue"]),
        "Review aspects: positive / negative / neutral sentences": stacked(aspects),
        "Review keywords": _keywords(rows["daily_review_words"]),
        "Ratings": bars([(f"{r['rating']} ★", r["reviews"])
                         for r in _by(rows["daily_ratings"], "rating", True)]),
        "Data quality": _quality(rows["dq_results"]),
    }  # fmt: skip
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Shop day {escape(day)}</title><style>{STYLE}</style></head><body>"
        f'<h1>Shop day {escape(day)}</h1><p class="muted">daily_analytics, from lake.gold</p>'
        + "".join(_section(title, body) for title, body in sections.items())
        + "</body></html>"
    )
