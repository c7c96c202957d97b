"""Seed data of the generated shop (`data/`): products, categories, brands, keywords, campaigns."""

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    name: str
    category: str
    brand: str
    item: str
    price: float


@dataclass(frozen=True)
class Category:
    name: str
    items: tuple[str, ...]
    brands: tuple[str, ...]
    sizes: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    products: tuple[Product, ...]
    categories: dict[str, Category]
    colors: tuple[str, ...]
    referrers: tuple[str, ...]
    campaigns: tuple[dict[str, str], ...]
    sale_campaign: dict[str, str]

    def products_in(self, category: str) -> tuple[Product, ...]:
        return self._by_category[category]

    def __post_init__(self) -> None:
        by_category: dict[str, list[Product]] = {c: [] for c in self.categories}
        for p in self.products:
            by_category[p.category].append(p)
        empty = [c for c, ps in by_category.items() if not ps]
        if empty:
            raise ValueError(f"categories without products: {empty}")
        object.__setattr__(self, "_by_category", {c: tuple(ps) for c, ps in by_category.items()})


def _products(path: Path, categories: dict[str, Any]) -> tuple[Product, ...]:
    with path.open(encoding="utf-8", newline="") as f:
        products = tuple(
            Product(
                r["product_id"], r["name"], r["category"], r["brand"], r["item"], float(r["price"])
            )
            for r in csv.DictReader(f)
        )
    unknown = {p.category for p in products} - categories.keys()
    if unknown:
        raise ValueError(f"{path}: categories not in catalog.yml: {sorted(unknown)}")
    return products


def load_catalog(data_dir: Path = DATA_DIR) -> Catalog:
    spec = yaml.safe_load((data_dir / "catalog.yml").read_text(encoding="utf-8"))
    categories = {
        name: Category(name, tuple(c["items"]), tuple(c["brands"]), tuple(map(str, c["sizes"])))
        for name, c in spec["categories"].items()
    }
    return Catalog(
        products=_products(data_dir / "products.csv", categories),
        categories=categories,
        colors=tuple(spec["colors"]),
        referrers=tuple(spec["referrers"]),
        campaigns=tuple(spec["campaigns"]),
        sale_campaign=spec["sale_campaign"],
    )
