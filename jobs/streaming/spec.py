"""The stream spec: what the streaming job needs to know of every topic, in one JSON document.

It is derived on the control node from the topics spec and the JSON Schemas (the one schema
source) and shipped beside the job, because the Spark driver's host has pyspark and nothing else:
no PyYAML, no jsonschema. `build_spec` is the only writer; `jobs.streaming.config` reads it.
"""

import json
import re
from typing import Any

SPEC_VERSION = 1


def table_name(topic: str) -> str:
    """shopping-events → shopping_events, olist.orders → olist_orders."""
    return re.sub(r"[^a-z0-9_]", "_", topic.lower())


def build_spec() -> dict[str, Any]:
    from generator.schemas.convert import field_rules, renamed_fields, to_spark_schema
    from generator.topics import load_topics

    topics = []
    for t in load_topics().values():
        entry: dict[str, Any] = {
            "topic": t.name,
            "schema": to_spark_schema(t.name).jsonValue(),
            "rules": field_rules(t.name),
            "renamed": renamed_fields(t.name),
        }
        if t.table is None:
            entry["dead_letter"] = True
        else:
            entry["table"] = {
                "name": table_name(t.name),
                "time": t.table["time"],
                "granularity": t.table.get("granularity", "day"),
                "partition": list(t.table.get("partition", [])),
                "sort": list(t.table["sort"]),
                "key": list(t.table["key"]),
                "version": t.table.get("version"),
            }
        topics.append(entry)
    return {"version": SPEC_VERSION, "topics": topics}


def main() -> None:
    """python -m jobs.streaming.spec > streams.json"""
    print(json.dumps(build_spec(), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
