"""`sdp generate`: drive the simulator into a sink, paced to the simulated clock."""

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from generator.producing import Sink
from generator.simulator import Record, Simulator
from generator.topics import topic


class SchemaViolation(RuntimeError):
    """The generator built a record its own schema rejects: a bug, so the run stops."""


@dataclass(frozen=True)
class Limits:
    count: int | None = None  # shopping events
    duration_s: float | None = None  # wall-clock seconds
    pace: bool = True  # False: as fast as possible (timestamps are the same either way)
    validate_every: int = 1000  # validate the 1st and every n-th record of each topic; 0: never


class StopFlag:
    """Set by SIGINT/SIGTERM so the run ends cleanly: open sessions closed, everything flushed."""

    def __init__(self) -> None:
        self.stopped = False

    def __call__(self, *_: object) -> None:
        self.stopped = True

    def install(self) -> None:
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)


def send_records(records: list[Record], sink: Sink, validate_every: int) -> None:
    dumps, send, sent = orjson.dumps, sink.send, sink.sent
    for name, key, record in records:
        if validate_every and sent[name] % validate_every == 0:
            errors = topic(name).validate(record)
            if errors:
                raise SchemaViolation(
                    f"generated {name} record breaks its schema: {errors}: {record}"
                )
        send(name, key, dumps(record))


def _wait_for_clock(
    sim: Simulator, sim_start: float, wall_start: float, stop: StopFlag, on_tick: Callable[[], None]
) -> None:
    """Sleep while the simulated clock is ahead of wall time × speed, still serving the switch."""
    while not stop.stopped:
        ahead = (sim.now - sim_start) / sim.speed - (time.monotonic() - wall_start)
        if ahead <= 0.002:
            return
        time.sleep(min(ahead, 0.2))
        sim.sale.poll()
        on_tick()


def run_generate(
    sim: Simulator,
    sink: Sink,
    limits: Limits,
    stop: StopFlag | None = None,
    on_tick: Callable[[], None] = lambda: None,
) -> int:
    """Run until a limit or `stop`; returns the number of shopping events generated."""
    stop = stop or StopFlag()
    sim_start, wall_start = sim.now, time.monotonic()
    # Look at the clock, limits and sale switch about every 5 ms of generated traffic, at
    # most every 64 events so the per-event cost stays low at full speed.
    check_every = max(1, min(64, int(sim.rate / 200)))
    events = 0
    step, send, validate_every = sim.step, sink.send, limits.validate_every
    dumps = orjson.dumps
    while not stop.stopped:
        if limits.count is not None and events >= limits.count:
            break
        batch = check_every if limits.count is None else min(check_every, limits.count - events)
        for _ in range(batch):
            records = step()
            if validate_every:
                send_records(records, sink, validate_every)
            else:
                for name, key, record in records:
                    send(name, key, dumps(record))
        events += batch
        sim.sale.poll()
        on_tick()
        if limits.pace:
            _wait_for_clock(sim, sim_start, wall_start, stop, on_tick)
        if limits.duration_s is not None and time.monotonic() - wall_start >= limits.duration_s:
            break
    send_records(sim.close_sessions(), sink, validate_every)
    sink.flush()
    return events
