"""`sdp generate`, `sdp replay olist`, `sdp import rees46`: feed the platform's Kafka topics."""

import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from generator import kafka_login
from generator.catalog import load_catalog
from generator.csv_input import InputFileError
from generator.generate import Limits, SchemaViolation, StopFlag, run_generate
from generator.olist_replay import Pacing, ReplayState, build_plan, fingerprint, read_tables, replay
from generator.producing import BrokerUnreachable, DeliveryError, Sink, open_sink
from generator.progress import Progress
from generator.rees46_import import import_rees46
from generator.review_text import CorpusError, ReviewTexts, load_corpus
from generator.simulator import Simulator
from generator.traffic import SaleSwitch

console = Console(stderr=True)
DEFAULT_STATE = Path.home() / ".cache" / "sdp" / "olist-replay.json"

Bootstrap = Annotated[
    str | None,
    typer.Option(envvar="SDP_KAFKA_BOOTSTRAP", help="Kafka bootstrap HOST:PORT[,HOST:PORT]."),
]
KafkaUser = Annotated[
    str | None,
    typer.Option(
        envvar=kafka_login.USER,
        help="Log in to Kafka as this user (SCRAM-SHA-512), its password in SDP_KAFKA_PASSWORD.",
    ),
]
Out = Annotated[
    Path | None,
    typer.Option(
        "--out", help="Write JSON lines {topic, key, value} to this file instead of Kafka."
    ),
]
ConnectTimeout = Annotated[
    float, typer.Option(help="Seconds to wait for the broker before giving up.", min=0.1)
]


def fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def reporting_errors():
    """Turn the known failures into one clear line and an exit code instead of a traceback."""
    try:
        yield
    except (BrokerUnreachable, FileNotFoundError, InputFileError, CorpusError, ValueError) as e:
        raise fail(str(e)) from None
    except (DeliveryError, SchemaViolation) as e:
        raise fail(str(e), code=1) from None


def report(sink: Sink, extra: dict[str, object]) -> None:
    """The closing summary; exit 1 when any message failed delivery."""
    for name, sent in sorted(sink.sent.items()):
        console.print(f"  {name}: {sent:,} sent, {sink.failed[name]:,} failed")
    for key, value in extra.items():
        console.print(f"  {key}: {value}")
    for reason, n in sink.failure_reasons.items():
        console.print(f"  [red]delivery failed {n:,}x: {reason}[/]")
    if sink.errors:
        raise fail(f"{sink.errors:,} messages were not delivered", code=1)


def _start_time(value: str | None) -> float:
    if value is None:
        return time.time()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO date-time", param_hint="--start"
        ) from None
    if parsed.tzinfo is None:
        raise typer.BadParameter(f"{value!r} needs a zone, e.g. {value}Z", param_hint="--start")
    return parsed.timestamp()


def generate(
    bootstrap: Bootstrap = None,
    kafka_user: KafkaUser = None,
    out: Out = None,
    rate: Annotated[
        float, typer.Option(help="Shopping events per second at the day's mean traffic.", min=0.001)
    ] = 100.0,
    speed: Annotated[
        float,
        typer.Option(help="Simulated seconds per wall second (60: an hour a minute).", min=0.001),
    ] = 1.0,
    count: Annotated[
        int | None, typer.Option(help="Stop after this many shopping events.", min=1)
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many wall-clock seconds.", min=0.001)
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed: the same seed and --start give the same stream.")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Simulated start time, ISO with zone (default: now).")
    ] = None,
    sale: Annotated[bool, typer.Option(help="Start in sale mode.")] = False,
    sale_multiplier: Annotated[
        float, typer.Option(help="Traffic multiplier in sale mode.", min=1)
    ] = 10.0,
    sale_flag: Annotated[
        Path | None,
        typer.Option(help="Sale mode is on while this file exists (SIGUSR1 toggles too)."),
    ] = None,
    unpaced: Annotated[
        bool, typer.Option("--unpaced", help="Generate as fast as possible; timestamps unchanged.")
    ] = False,
    corpus: Annotated[
        Path | None,
        typer.Option(
            help="Real review texts: Naver 'rating<TAB>text' file, or CSV with rating and text.",
        ),
    ] = None,
    users: Annotated[int, typer.Option(help="Number of distinct users.", min=1)] = 50_000,
    sessions: Annotated[int, typer.Option(help="Sessions open at the same time.", min=1)] = 200,
    validate_every: Annotated[
        int,
        typer.Option(
            help="Validate the first and every n-th record of each topic (1: all, 0: none).", min=0
        ),
    ] = 1000,
    connect_timeout: ConnectTimeout = 10.0,
) -> None:
    """Generate shopping events, search queries, sessions and Korean reviews on the daily curve."""
    with reporting_errors():
        start_s = _start_time(start)
        switch = SaleSwitch(on=sale, multiplier=sale_multiplier, flag_file=sale_flag)
        switch.listen_for_signal()
        catalog = load_catalog()
        seed = seed if seed is not None else time.time_ns()
        sim = Simulator(
            catalog,
            seed=seed,
            start=start_s,
            rate=rate,
            speed=speed,
            sale=switch,
            users=users,
            concurrent_sessions=sessions,
        )
        if corpus is not None:
            sim.texts = ReviewTexts(sim.rng, load_corpus(corpus))
        sink = open_sink(bootstrap, out, connect_timeout, kafka_user)
        stop = StopFlag()
        stop.install()

        def facts():
            return {
                "sale": f"ON x{switch.multiplier:g}" if switch.on else "off",
                "simulated": sim.timestamp(sim.now)[:19],
            }

        with Progress("sdp generate", sink, facts, console) as progress:
            try:
                events = run_generate(
                    sim,
                    sink,
                    Limits(count, duration, not unpaced, validate_every),
                    stop,
                    progress.tick,
                )
            finally:
                sink.close()
        report(
            sink,
            {
                "seed": seed,
                "shopping events": f"{events:,}",
                "reviews not yet due at stop": sim.pending_reviews,
            },
        )


replay_app = typer.Typer(no_args_is_help=True, help="Replay real datasets as change data capture.")
import_app = typer.Typer(no_args_is_help=True, help="Import real clickstreams into the topics.")


@replay_app.command("olist")
def replay_olist(
    folder: Annotated[Path, typer.Option("--dir", help="Folder with the 9 Olist CSV files.")],
    bootstrap: Bootstrap = None,
    kafka_user: KafkaUser = None,
    out: Out = None,
    speed: Annotated[
        float, typer.Option(help="Source seconds per wall second; 0: no pacing.", min=0)
    ] = 86_400.0,
    max_gap: Annotated[
        float, typer.Option(help="Longest wait between two records, in seconds.", min=0)
    ] = 1.0,
    state: Annotated[
        Path, typer.Option(help="Where the replay keeps its position, to resume.")
    ] = DEFAULT_STATE,
    restart: Annotated[
        bool,
        typer.Option("--restart", help="Start from the beginning, forgetting the saved position."),
    ] = False,
    connect_timeout: ConnectTimeout = 10.0,
) -> None:
    """Replay Olist orders with their items, payments, reviews and references to olist.<table>."""
    with reporting_errors():
        tables, dead = read_tables(folder)
        plan = build_plan(tables, dead)
        replay_state = ReplayState(state, fingerprint(folder))
        if restart:
            state.unlink(missing_ok=True)
        start = replay_state.load()
        if start >= len(plan):
            console.print(
                f"{folder}: all {len(plan):,} records were replayed already ({state}); "
                "--restart to replay again",
                soft_wrap=True,  # a path split over lines can't be copied or grepped
            )
            return
        sink = open_sink(bootstrap, out, connect_timeout, kafka_user)
        stop = StopFlag()
        stop.install()
        facts = lambda: {"position": f"{start + sum(sink.sent.values()):,}/{len(plan):,}"}  # noqa: E731
        with Progress("sdp replay olist", sink, facts, console) as progress:
            try:
                first, next_seq = replay(
                    plan,
                    sink,
                    replay_state,
                    Pacing(speed, max_gap),
                    on_tick=progress.tick,
                    should_stop=lambda: stop.stopped,
                )
            finally:
                sink.close()
        rows = {table: f"{len(r):,}" for table, r in tables.items()}
        report(
            sink,
            {
                "rows read": rows,
                "unreadable rows": len(dead),
                "published positions": f"{first:,}..{next_seq:,} of {len(plan):,}",
                "state": state,
            },
        )


@import_app.command("rees46")
def import_rees46_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="REES46 CSV: event_time, event_type, product_id, category_id, category_code, "
            "brand, price, user_id, user_session"
        ),
    ],
    bootstrap: Bootstrap = None,
    kafka_user: KafkaUser = None,
    out: Out = None,
    connect_timeout: ConnectTimeout = 10.0,
) -> None:
    """Stream a REES46 clickstream CSV into shopping-events (view, cart→add_cart, purchase)."""
    with reporting_errors():
        if not file.is_file():
            raise InputFileError(f"{file} does not exist")
        sink = open_sink(bootstrap, out, connect_timeout, kafka_user)
        stop = StopFlag()
        stop.install()
        with Progress("sdp import rees46", sink, console=console) as progress:
            try:
                rows = import_rees46(file, sink, progress.tick, lambda: stop.stopped)
            finally:
                sink.close()
        report(sink, {"rows read": f"{rows:,}"})


def register(app: typer.Typer) -> None:
    """Add the generator's commands to the top-level `sdp` app."""
    app.command("generate")(generate)
    app.add_typer(replay_app, name="replay")
    app.add_typer(import_app, name="import")
