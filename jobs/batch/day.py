"""The day a batch run covers: a calendar day in the shop's time zone (the DAG's), as UTC bounds."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pyspark.sql import Column
from pyspark.sql import functions as F


@dataclass(frozen=True)
class Day:
    day: date
    zone: str  # IANA name, e.g. Asia/Seoul

    @classmethod
    def parse(cls, text: str, zone: str) -> "Day":
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"--date: {text!r} is not a date (YYYY-MM-DD)") from None
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"--zone: {zone!r} is not a time zone (e.g. Asia/Seoul)") from None
        return cls(day, zone)

    @property
    def start(self) -> datetime:
        """The day's first instant in UTC, naive (Spark's session time zone is UTC)."""
        local = datetime.combine(self.day, time(), ZoneInfo(self.zone))
        return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=1)

    @property
    def micros(self) -> tuple[int, int]:
        """Start and end in microseconds since the epoch, as the stream bounds its windows."""
        epoch = datetime(1970, 1, 1)
        return tuple((t - epoch) // timedelta(microseconds=1) for t in (self.start, self.end))

    def contains(self, ts: Column) -> Column:
        return (ts >= F.lit(self.start)) & (ts < F.lit(self.end))

    def hour(self, ts: Column) -> Column:
        """Hour of the day (0-23) in the day's zone."""
        return F.hour(F.from_utc_timestamp(ts, self.zone))

    def __str__(self) -> str:
        return self.day.isoformat()
