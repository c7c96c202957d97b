"""Simulated shoppers: concurrent sessions walking the search → view → add_cart → purchase funnel.

Each step advances one session by one shopping event, so events of different sessions
interleave while each session's events stay in order. Alongside the shopping events it emits a
search-queries record per search, a nested sessions document when a session ends, and a review
some simulated minutes after a purchase. Everything is drawn from one seeded random generator,
so a seed and a start time give the same stream every time.
"""

import heapq
import random
import time
from dataclasses import dataclass
from typing import Any

from generator.catalog import Catalog, Product
from generator.review_text import ReviewTexts
from generator.search_queries import search_query
from generator.traffic import SaleSwitch, curve_factor

SHOPPING, REVIEWS, QUERIES, SESSIONS = "shopping-events", "reviews", "search-queries", "sessions"
SEARCH, VIEW, ADD_CART, PURCHASE, END = "search", "view", "add_cart", "purchase", None

Record = tuple[str, bytes, dict[str, Any]]


@dataclass(frozen=True)
class Funnel:
    """Step probabilities. With the defaults about 12% of sessions buy and 5.5% of views lead to a
    purchase, in line with published e-commerce funnels; sale mode lifts carting and buying."""

    search_first: float = 0.7  # the rest land on a product page from an ad or a link
    view_after_search: float = 0.85
    search_again: float = 0.10
    view_again: float = 0.50
    cart: float = 0.10
    sale_cart: float = 0.16
    search_after_view: float = 0.15
    buy: float = 0.40
    sale_buy: float = 0.55
    view_after_cart: float = 0.40
    view_after_purchase: float = 0.25
    review: float = 0.30  # share of purchases reviewed
    review_delay_s: tuple[float, float] = (60.0, 1800.0)  # simulated seconds after the purchase


RATING_WEIGHTS = (0.07, 0.05, 0.10, 0.23, 0.55)  # 1..5 stars, skewed as shop ratings are
APP_VERSIONS = ("5.12.0", "5.12.1", "5.13.0", "5.14.2")
DEVICES = (  # (cumulative share, type, os choices)
    (0.42, "mobile", "android"),
    (0.65, "mobile", "ios"),
    (0.75, "tablet", "ipados"),
    (0.80, "tablet", "android"),
    (0.93, "desktop", "windows"),
    (1.00, "desktop", "macos"),
)


def pick(rng: random.Random, seq):
    """rng.choice without its per-call overhead: the generator's hottest random draw."""
    return seq[int(rng.random() * len(seq))]


class Session:
    __slots__ = (
        "cart",
        "category",
        "context",
        "current",
        "device",
        "events",
        "key",
        "last",
        "session_id",
        "started_at",
        "user",
        "user_id",
        "viewed",
    )

    def __init__(self, session_id: str, user: int, device: dict, context: dict, category: str):
        self.session_id = session_id
        self.user = user
        self.user_id = f"u{user:07d}"
        self.key = self.user_id.encode()
        self.device = device
        self.context = context
        self.category = category
        self.last: str | None = None
        self.viewed: dict[str, tuple[Product, float]] = {}
        self.current: tuple[Product, float] | None = None  # the product page open now
        self.cart: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.started_at = ""


class Simulator:
    def __init__(
        self,
        catalog: Catalog,
        *,
        seed: int,
        start: float,
        rate: float,
        speed: float = 1.0,
        sale: SaleSwitch | None = None,
        users: int = 50_000,
        concurrent_sessions: int = 200,
        review_texts: ReviewTexts | None = None,
        funnel: Funnel = Funnel(),
    ):
        if rate <= 0 or speed <= 0:
            raise ValueError(f"rate and speed must be positive, got rate={rate} speed={speed}")
        if users < concurrent_sessions:
            raise ValueError(
                f"need at least as many users ({users}) as sessions ({concurrent_sessions})"
            )
        self.rng = random.Random(seed)
        self.catalog = catalog
        self.categories = tuple(catalog.categories)
        self.sale = sale or SaleSwitch()
        self.funnel = funnel
        self.texts = review_texts or ReviewTexts(self.rng)
        self.users = users
        self.rate, self.speed = rate, speed
        self.now = float(start)
        # Simulated seconds between shopping events at the daily mean rate, before sale mode.
        self._mean_gap = speed / rate
        self._curve = curve_factor(self.now)
        self._curve_until = self.now + 60.0
        self._second = -1
        self._prefix = ""
        self._devices: dict[int, dict[str, Any]] = {}
        self._active_users: set[int] = set()
        self._pending_reviews: list[tuple[float, int, dict[str, Any]]] = []
        self._review_seq = 0
        self.sessions = [self._new_session() for _ in range(concurrent_sessions)]

    # --- helpers -------------------------------------------------------------------------
    def _id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def timestamp(self, t: float) -> str:
        """RFC 3339 UTC with milliseconds; the seconds part is formatted once per second."""
        second = int(t)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((t - second) * 1000):03d}Z"

    def _device(self, user: int) -> dict[str, Any]:
        device = self._devices.get(user)
        if device is None:
            r = self.rng.random()
            _, kind, os_name = next(d for d in DEVICES if r < d[0])
            version = None if kind == "desktop" else pick(self.rng, APP_VERSIONS)
            device = self._devices[user] = {"type": kind, "os": os_name, "app_version": version}
        return device

    def _context(self) -> dict[str, Any]:
        rng, catalog = self.rng, self.catalog
        if self.sale.on and rng.random() < 0.8:
            campaign = catalog.sale_campaign
        elif rng.random() < 0.25:
            campaign = pick(rng, catalog.campaigns)
        else:
            campaign = None
        return {"referrer": pick(rng, catalog.referrers), "campaign": campaign}

    def _new_session(self) -> Session:
        rng = self.rng
        user = int(rng.random() * self.users)
        while user in self._active_users:  # a user shops in one session at a time
            user = int(rng.random() * self.users)
        self._active_users.add(user)
        return Session(
            self._id(), user, self._device(user), self._context(), pick(rng, self.categories)
        )

    def _price(self, session: Session, product: Product) -> float:
        """The price this session sees for `product`; sale-campaign sessions get 10-30% off."""
        if session.context["campaign"] is self.catalog.sale_campaign:
            return round(product.price * (1 - self.rng.uniform(0.10, 0.30)), 2)
        return product.price

    def _next_step(self, s: Session) -> str | None:
        f, r, on_sale = self.funnel, self.rng.random(), self.sale.on
        last = s.last
        if last is None:
            return SEARCH if r < f.search_first else VIEW
        if last == SEARCH:
            return (
                VIEW
                if r < f.view_after_search
                else SEARCH
                if r < f.view_after_search + f.search_again
                else END
            )
        if last == VIEW:
            cart = f.sale_cart if on_sale else f.cart
            if r < f.view_again:
                return VIEW
            if r < f.view_again + cart:
                return ADD_CART
            return SEARCH if r < f.view_again + cart + f.search_after_view else END
        if last == ADD_CART:
            buy = f.sale_buy if on_sale else f.buy
            return PURCHASE if r < buy else VIEW if r < buy + f.view_after_cart else END
        return VIEW if r < f.view_after_purchase else END

    @staticmethod
    def _session_doc(s: Session, ended_at: str) -> Record:
        doc = {
            "session_id": s.session_id,
            "user_id": s.user_id,
            "started_at": s.started_at,
            "ended_at": ended_at,
            "device": s.device,
            "context": s.context,
            "events": s.events,
        }
        return SESSIONS, s.session_id.encode(), doc

    def _end_session(self, slot: int, ts: str) -> Record:
        s = self.sessions[slot]
        self._active_users.discard(s.user)
        self.sessions[slot] = self._new_session()
        return self._session_doc(s, ts)

    def _review(self, s: Session, product: Product, purchase_event_id: str) -> None:
        rng = self.rng
        rating = rng.choices((1, 2, 3, 4, 5), RATING_WEIGHTS)[0]
        review_id = self._id()
        images = [
            f"https://img.shop.example/reviews/{review_id}/{i}.jpg"
            for i in range(rng.choice((0, 0, 0, 1, 1, 2, 3)) if rating >= 3 else rng.choice((0, 1)))
        ]
        review = {
            "review_id": review_id,
            "product_id": product.product_id,
            "user_id": s.user_id,
            "purchase_event_id": purchase_event_id,
            "rating": rating,
            "text": self.texts.text(rating, product.item),
            "images": images,
            "created_at": "",
        }
        self._review_seq += 1
        due = self.now + rng.uniform(*self.funnel.review_delay_s)
        heapq.heappush(self._pending_reviews, (due, self._review_seq, review))

    @property
    def pending_reviews(self) -> int:
        """Reviews scheduled for a simulated time not reached yet."""
        return len(self._pending_reviews)

    # --- the stream ----------------------------------------------------------------------
    def _advance_clock(self) -> str:
        now = self.now
        if now >= self._curve_until:
            self._curve = curve_factor(now)
            self._curve_until = now + 60.0
        self.now = now = now + self._mean_gap / (self._curve * self.sale.factor)
        return self.timestamp(now)

    def step(self) -> list[Record]:
        """One shopping event and whatever it brings along (query, ended session, due reviews)."""
        out: list[Record] = []
        rng = self.rng
        ts = self._advance_clock()
        pending = self._pending_reviews
        while pending and pending[0][0] <= self.now:
            due, _, review = heapq.heappop(pending)
            review["created_at"] = self.timestamp(due)
            out.append((REVIEWS, review["product_id"].encode(), review))
        slot = int(rng.random() * len(self.sessions))
        s = self.sessions[slot]
        action = self._next_step(s)
        if action is END:
            out.append(self._end_session(slot, ts))
            s = self.sessions[slot]
            action = self._next_step(s)
        if not s.events:
            s.started_at = ts
        event_id = self._id()
        product: Product | None = None
        price: float | None = None
        if action == SEARCH:
            s.category = pick(rng, self.categories)
            category = self.catalog.categories[s.category]
            query = search_query(rng, category, self.catalog.colors, int(ts[:4]))
            out.append(
                (
                    QUERIES,
                    s.key,
                    {
                        "event_id": event_id,
                        "user_id": s.user_id,
                        "session_id": s.session_id,
                        "query": query,
                        "category": s.category,
                        "timestamp": ts,
                    },
                )
            )
        elif action == VIEW:
            product = pick(rng, self.catalog.products_in(s.category))
            seen = s.viewed.get(product.product_id)
            price = seen[1] if seen else self._price(s, product)
            s.viewed[product.product_id] = s.current = (product, price)
        elif action == ADD_CART:
            product, price = s.current
            s.cart.append(product.product_id)
        else:
            product, price = s.viewed[s.cart.pop()]
            if rng.random() < self.funnel.review:
                self._review(s, product, event_id)
        s.last = action
        s.events.append(
            {
                "event_id": event_id,
                "event_type": action,
                "product_id": product and product.product_id,
                "price": price,
                "timestamp": ts,
            }
        )
        out.append(
            (
                SHOPPING,
                s.key,
                {
                    "event_id": event_id,
                    "event_type": action,
                    "user_id": s.user_id,
                    "session_id": s.session_id,
                    "product_id": product and product.product_id,
                    "category": product.category if product else s.category,
                    "brand": product and product.brand,
                    "price": price,
                    "list_price": product and product.price,
                    "timestamp": ts,
                    "device": s.device,
                    "context": s.context,
                    "source": "generator",
                },
            )
        )
        return out

    def close_sessions(self) -> list[Record]:
        """Session documents of every session still open, so each event lands in one document."""
        ts = self.timestamp(self.now)
        return [self._session_doc(s, ts) for s in self.sessions if s.events]
