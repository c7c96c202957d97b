"""The report page from hand-made gold rows: what each section shows, escaping, empty days."""

from decimal import Decimal

from jobs.batch import report


def test_each_section_shows_its_rows_and_failed_checks_are_named():
    gold = {
        "daily_metrics": [{"metric": "revenue", "value": 1234.5},
                          {"metric": "orders", "value": 3.0}],
        "daily_sales": [{"category": "<shoes>", "revenue": Decimal("1000.00")},
                        {"category": "bags", "revenue": Decimal("234.50")}],
        "daily_hourly_sales": [{"hour": 9, "revenue": Decimal("1234.50")}],
        "daily_funnel": [{"product_id": "P1", "category": "bags", "views": 10, "carts": 4,
                          "purchases": 3, "revenue": Decimal("234.50")}],
        "daily_review_aspects": [{"aspect": "delivery", "positive": 2, "negative": 1,
                                  "neutral": 0}],
        "daily_review_words": [{"polarity": "positive", "word": "빠르", "count": 2},
                               {"polarity": "negative", "word": "늦", "count": 1}],
        "daily_ratings": [{"rating": 5, "reviews": 2}],
        "dq_results": [{"check": "rows", "observed": 3.0, "threshold": 1.0, "passed": True},
                       {"check": "duplicate_event_ids", "observed": 0.1, "threshold": 0.0,
                        "passed": False}],
    }  # fmt: skip
    page = report.render("2024-06-10", gold)
    assert "&lt;shoes&gt;" in page and "<shoes>" not in page
    assert "1,234.50" in page and "빠르" in page and "늦" in page and "5 ★" in page
    assert "+2 / −1 / 0" in page  # the delivery aspect's sentences
    assert '<p class="fail">failed: duplicate_event_ids</p>' in page
    assert page.count("<svg") == 7  # hours, categories, funnel, aspects, 2 keyword lists, ratings


def test_a_day_without_rows_still_renders_and_says_so():
    page = report.render("2024-06-11", {})
    assert "no data for this day" in page and "no reviews for this day" in page
    assert page.endswith("</html>")
