"""Where records go: Kafka (acks=all, idempotent, compressed, batched) or a JSON-lines file.

Both sinks take already-serialised values and count what was sent per topic; the Kafka sink
also counts delivery failures, which librdkafka reports after its own retries are exhausted.
Only failures raise delivery callbacks (`delivery.report.only.error`), so a successful message
costs no Python call; delivered = sent - failed once `flush` returns with nothing left.
"""

import time
from collections import Counter
from pathlib import Path

import orjson
from confluent_kafka import KafkaError, KafkaException, Producer

from generator.kafka_login import from_env

PRODUCER_CONFIG = {
    "acks": "all",
    "enable.idempotence": True,
    "compression.type": "lz4",
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "batch.num.messages": 10_000,
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
    "delivery.report.only.error": True,
}
POLL_EVERY = 1000  # sends between polls that serve delivery and error callbacks


class BrokerUnreachable(RuntimeError):
    """No broker answered at the bootstrap address within the timeout."""


class DeliveryError(RuntimeError):
    """Messages were not delivered, or not confirmed before the flush timeout."""


class SinkCounts:
    """What a sink sent and failed to deliver, per topic: what progress and reports show."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.failure_reasons: Counter[str] = Counter()
        self.client_errors: Counter[str] = Counter()

    @property
    def errors(self) -> int:
        return sum(self.failed.values())


class KafkaSink(SinkCounts):
    def __init__(
        self, client: dict[str, str], connect_timeout_s: float = 10.0, **overrides: object
    ) -> None:
        """`client`: the brokers and the login (generator/kafka_login.py)."""
        self.bootstrap = bootstrap = client["bootstrap.servers"]
        super().__init__()
        self._unpolled = 0
        self._producer = Producer(
            {
                **PRODUCER_CONFIG,
                **client,
                "error_cb": self._on_error,
                "on_delivery": self._on_delivery,
                **overrides,
            }
        )
        self._refused: str | None = None  # the brokers' answer to a refused login
        try:
            self._producer.list_topics(timeout=connect_timeout_s)
        except KafkaException as e:
            self._producer.poll(0)  # serves the error callbacks, a refused login among them
            if self._refused:
                raise BrokerUnreachable(
                    f"Kafka at {bootstrap} refused the login of "
                    f"{client.get('sasl.username')}: {self._refused}"
                ) from None
            hint = "" if "sasl.username" in client else "; if it wants a login: --kafka-user"
            raise BrokerUnreachable(
                f"cannot reach a Kafka broker at {bootstrap} within {connect_timeout_s:g}s "
                f"({e.args[0].str() if e.args else e}){hint}"
            ) from None

    def _on_error(self, error: KafkaError) -> None:
        self.client_errors[error.name()] += 1
        if error.code() == KafkaError._AUTHENTICATION:
            self._refused = error.str()

    def _on_delivery(self, error: KafkaError | None, message: object) -> None:
        if error is not None:
            self.failed[message.topic()] += 1  # type: ignore[attr-defined]
            self.failure_reasons[error.str()] += 1

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key)
                break
            except BufferError:  # local queue full: let librdkafka drain it
                self._producer.poll(0.05)
        self.sent[topic] += 1
        self._unpolled += 1
        if self._unpolled >= POLL_EVERY:
            self._unpolled = 0
            self._producer.poll(0)

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait for every sent message; raise if any is still unconfirmed after `timeout_s`."""
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise DeliveryError(
                f"{remaining} messages to {self.bootstrap} still unconfirmed after {timeout_s:g}s"
            )

    def close(self) -> None:
        self.flush()


class FileSink(SinkCounts):
    """`--out FILE.jsonl`: one `{"topic", "key", "value"}` object per line instead of Kafka."""

    def __init__(self, path: Path) -> None:
        if not path.parent.is_dir():
            raise FileNotFoundError(f"--out {path}: folder {path.parent} does not exist")
        super().__init__()
        self.path = path
        self._file = path.open("wb", buffering=1 << 20)
        self._topic_prefix: dict[str, bytes] = {}

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        prefix = self._topic_prefix.get(topic)
        if prefix is None:
            prefix = self._topic_prefix[topic] = b'{"topic":' + orjson.dumps(topic) + b',"key":'
        key_json = orjson.dumps(key.decode()) if key is not None else b"null"
        self._file.write(b"".join((prefix, key_json, b',"value":', value, b"}\n")))
        self.sent[topic] += 1

    def flush(self, timeout_s: float = 60.0) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


Sink = KafkaSink | FileSink


def open_sink(
    bootstrap: str | None,
    out: Path | None,
    connect_timeout_s: float = 10.0,
    kafka_user: str | None = None,
) -> Sink:
    """The file sink when `out` is given, else a Kafka producer for `bootstrap`, logged in as
    `kafka_user` with the password in SDP_KAFKA_PASSWORD."""
    if out is not None:
        return FileSink(out)
    if not bootstrap:
        raise ValueError("give --bootstrap HOST:PORT (or SDP_KAFKA_BOOTSTRAP) or --out FILE.jsonl")
    return KafkaSink(from_env(bootstrap, kafka_user), connect_timeout_s)


def wall_clock_iso() -> str:
    """Now in UTC, RFC 3339 with milliseconds, for ingest times."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
