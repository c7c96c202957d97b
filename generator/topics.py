"""The topics spec (`schemas/topics.yml`): names, schemas, message keys, partitions, configs."""

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from generator.schemas import SCHEMA_DIR, validator

TOPICS_FILE = SCHEMA_DIR / "topics.yml"
# A table's time partition: the event time's hour, day (the default), month or year.
GRANULARITIES = ("hour", "day", "month", "year")


@dataclass(frozen=True)
class Topic:
    name: str
    schema: str
    key: str
    partitions: int
    config: dict[str, str]
    table: dict[str, Any] | None = None  # the lake layout (see topics.yml); None: not a data topic

    @property
    def retention_ms(self) -> int:
        return int(self.config["retention.ms"])

    def validate(self, record: dict[str, Any]) -> list[str]:
        """Every way `record` breaks this topic's schema, as readable messages; empty if none."""
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<record>'}: {e.message}"
            for e in validator(self.schema).iter_errors(record)
        ]


def _topic(entry: dict[str, Any], path: Path) -> Topic:
    missing = {"name", "schema", "key", "partitions", "config"} - entry.keys()
    if missing:
        raise ValueError(f"{path}: topic {entry.get('name', entry)!r} lacks {sorted(missing)}")
    config = {str(k): str(v) for k, v in entry["config"].items()}
    if "retention.ms" not in config:
        raise ValueError(f"{path}: topic {entry['name']!r} has no retention.ms in its config")
    table = entry.get("table")
    if table is not None and not {"time", "sort", "key"} <= table.keys():
        raise ValueError(f"{path}: topic {entry['name']!r}: table needs time, sort and key")
    if table is not None and table.get("granularity", "day") not in GRANULARITIES:
        raise ValueError(
            f"{path}: topic {entry['name']!r}: table granularity {table['granularity']!r} "
            f"is not one of {', '.join(GRANULARITIES)}"
        )
    return Topic(
        entry["name"], entry["schema"], entry["key"], int(entry["partitions"]), config, table
    )


@cache
def load_topics(path: Path = TOPICS_FILE) -> dict[str, Topic]:
    """All topics of the spec at `path`, by name, in the spec's order."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["topics"]
    return {t.name: t for t in (_topic(e, path) for e in entries)}


def topic(name: str) -> Topic:
    """The topic called `name`; a KeyError lists the known names."""
    topics = load_topics()
    if name not in topics:
        raise KeyError(f"no topic {name!r} in {TOPICS_FILE}; known: {', '.join(topics)}")
    return topics[name]
