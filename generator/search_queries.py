"""Korean shopping search queries built from patterns over the catalog's words."""

import random

from generator.catalog import Category

PATTERNS = (
    "{brand} {item} {size}",
    "{item} {color} 추천",
    "가성비 {item}",
    "{item} 추천 {year}",
    "{brand} {item}",
    "{color} {item}",
    "{item} 최저가",
    "{item}",
)


def search_query(rng: random.Random, category: Category, colors: tuple[str, ...], year: int) -> str:
    """One query for `category`; every word comes from the catalog, so it can match products."""
    r = rng.random  # indexing by random() is several times cheaper than rng.choice
    return PATTERNS[int(r() * len(PATTERNS))].format(
        brand=category.brands[int(r() * len(category.brands))],
        item=category.items[int(r() * len(category.items))],
        size=category.sizes[int(r() * len(category.sizes))],
        color=colors[int(r() * len(colors))],
        year=year,
    )
