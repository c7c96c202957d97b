"""The traffic shape: the daily curve by hour (Korean time), sale mode and its switch."""

import signal
import time
from pathlib import Path

# Relative shopping traffic at each hour of the day in KST: a night trough, a lunch bump and
# the evening peak around 21-22h. Normalised below so the day's mean is 1.0, which makes
# `--rate` the day-average rate.
_HOURLY = (
    0.90, 0.60, 0.35, 0.20, 0.15, 0.15, 0.25, 0.45, 0.70, 0.90, 1.00, 1.10,
    1.35, 1.25, 1.05, 1.00, 1.00, 1.05, 1.10, 1.30, 1.55, 1.75, 1.70, 1.35,
)  # fmt: skip
HOURLY_CURVE = tuple(v * len(_HOURLY) / sum(_HOURLY) for v in _HOURLY)
KST_OFFSET_S = 9 * 3600  # Korea has no daylight saving time


def curve_factor(epoch_s: float) -> float:
    """Traffic at `epoch_s` relative to the daily mean, interpolated linearly between hours."""
    hour = ((epoch_s + KST_OFFSET_S) % 86400) / 3600
    h = int(hour)
    start, end = HOURLY_CURVE[h], HOURLY_CURVE[(h + 1) % 24]
    return start + (end - start) * (hour - h)


class SaleSwitch:
    """Sale mode, switchable while running: SIGUSR1 toggles it, and when a flag file is given,
    creating the file turns it on and deleting it turns it off (checked once a second)."""

    def __init__(self, on: bool = False, multiplier: float = 10.0, flag_file: Path | None = None):
        if multiplier < 1:
            raise ValueError(f"sale multiplier must be at least 1, got {multiplier}")
        self.on = on
        self.multiplier = multiplier
        self._flag_file = flag_file
        self._flag_seen = flag_file is not None and flag_file.exists()
        self._next_check = 0.0

    @property
    def factor(self) -> float:
        return self.multiplier if self.on else 1.0

    def toggle(self, *_: object) -> None:
        self.on = not self.on

    def listen_for_signal(self) -> None:
        signal.signal(signal.SIGUSR1, self.toggle)

    def poll(self) -> None:
        if self._flag_file is None:
            return
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + 1.0
        present = self._flag_file.exists()
        if present != self._flag_seen:
            self._flag_seen = present
            self.on = present
