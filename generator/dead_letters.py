"""Dead-letter records: a source record that cannot go to its topic, with the reason."""

from typing import Any

import orjson

from generator.producing import Sink, wall_clock_iso

DEAD_LETTER_TOPIC = "dead-letter"


def dead_letter(topic: str, reason: str, source: str, payload: Any) -> dict[str, Any]:
    return {
        "topic": topic,
        "reason": reason,
        "source": source,
        "payload": orjson.dumps(payload).decode(),
        "ingest_time": wall_clock_iso(),
    }


def send_dead_letter(sink: Sink, topic: str, reason: str, source: str, payload: Any) -> None:
    sink.send(
        DEAD_LETTER_TOPIC, topic.encode(), orjson.dumps(dead_letter(topic, reason, source, payload))
    )
