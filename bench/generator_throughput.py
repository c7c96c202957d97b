"""Generated-and-produced events per second on one core.

    python -m bench.generator_throughput --bootstrap HOST:PORT --count 1000000 --seed 1
    python -m bench.generator_throughput --count 1000000            # no broker: generation + JSON
    python -m bench.generator_throughput --count 300000 --profile   # where the time goes

The process, and so librdkafka's threads, is pinned to CPU 0; with a broker, messages go with
acks=all and idempotence, as `sdp generate` sends them. Throughput counts every message
(shopping events plus the queries, sessions and reviews they bring) and shopping events alone.
Schema validation is off (`--validate-every 0`) unless asked for.
"""

import argparse
import cProfile
import io
import os
import platform
import pstats
import time
from collections import Counter

import confluent_kafka

from generator.catalog import load_catalog
from generator.generate import Limits, run_generate
from generator.kafka_login import USER, from_env
from generator.producing import KafkaSink
from generator.simulator import Simulator

START = 1_714_532_400  # fixed, so runs with one seed generate the same stream


class CountingSink:
    """No broker: records are generated and serialised, then only counted."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.sent[topic] += 1

    def flush(self, timeout_s: float = 0) -> None:
        pass


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bootstrap",
        help="Kafka HOST:PORT, the login in SDP_KAFKA_USER and SDP_KAFKA_PASSWORD (as `sdp "
        "generate`); without it nothing is produced",
    )
    parser.add_argument("--count", type=int, default=1_000_000, help="shopping events to generate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--validate-every", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="print the top costs (cProfile)")
    args = parser.parse_args()

    os.sched_setaffinity(0, {0})  # before the producer starts its threads: they inherit it
    if args.bootstrap:
        sink = KafkaSink(from_env(args.bootstrap, os.environ.get(USER)))
    else:
        sink = CountingSink()
    sim = Simulator(load_catalog(), seed=args.seed, start=START, rate=10_000, speed=60)
    limits = Limits(count=args.count, pace=False, validate_every=args.validate_every)
    profiler = cProfile.Profile() if args.profile else None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    events = run_generate(sim, sink, limits)  # ends with a flush: everything acknowledged
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    messages = sum(sink.sent.values())

    print(
        f"cpu          {cpu_model()}; {os.cpu_count()} cores, "
        f"pinned to {sorted(os.sched_getaffinity(0))}"
    )
    print(
        f"python       {platform.python_version()}, confluent-kafka {confluent_kafka.version()}, "
        f"librdkafka {confluent_kafka.libversion()[0]}"
    )
    print(
        "mode         "
        + (f"Kafka {args.bootstrap} (acks=all, idempotent, lz4)" if args.bootstrap else "no broker")
    )
    print(f"generated    {events:,} shopping events, {messages:,} messages {dict(sink.sent)}")
    print(f"failed       {getattr(sink, 'errors', 0):,}")
    print(f"time         {wall:.2f}s wall, {cpu:.2f}s process CPU (all threads)")
    print(f"throughput   {messages / wall:,.0f} messages/s, {events / wall:,.0f} shopping events/s")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print(out.getvalue())


if __name__ == "__main__":
    main()
