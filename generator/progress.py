"""Live progress on the terminal: rate, totals per topic, delivery failures, and run facts."""

import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.table import Table

from generator.producing import Sink

REFRESH_S = 0.5


class Progress:
    """Redrawn by the producing loop (never from another thread, so counters are read safely)."""

    def __init__(
        self,
        title: str,
        sink: Sink,
        facts: Callable[[], dict[str, str]] = dict,
        console: Console | None = None,
    ) -> None:
        self.title = title
        self.sink = sink
        self.facts = facts
        self.console = console or Console(stderr=True)
        self._start = self._last = time.monotonic()
        self._last_total = 0
        self._rate = 0.0
        self._live = Live(console=self.console, auto_refresh=False, transient=False)

    def __enter__(self) -> "Progress":
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.tick(force=True)
        self._live.__exit__(*exc)

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < REFRESH_S:
            return
        total = sum(self.sink.sent.values())
        if now > self._last:
            self._rate = (total - self._last_total) / (now - self._last)
        self._last, self._last_total = now, total
        self._live.update(self._table(now, total), refresh=True)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._start

    def _table(self, now: float, total: int) -> Table:
        table = Table(title=self.title, title_justify="left", show_edge=False)
        table.add_column("topic")
        table.add_column("sent", justify="right")
        table.add_column("failed", justify="right")
        for topic, sent in sorted(self.sink.sent.items()):
            table.add_row(topic, f"{sent:,}", f"{self.sink.failed[topic]:,}")
        table.add_section()
        table.add_row("total", f"{total:,}", f"{self.sink.errors:,}")
        table.caption = "  ".join(
            [
                f"{now - self._start:,.1f}s",
                f"{self._rate:,.0f} msg/s",
                f"client errors {sum(self.sink.client_errors.values()):,}",
                *(f"{k} {v}" for k, v in self.facts().items()),
            ]
        )
        table.caption_justify = "left"
        return table
