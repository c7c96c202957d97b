"""One micro-batch: every Kafka record lands once, in bronze or in the dead-letter table.

Exactly once across restarts, SIGKILL included: Spark replays an unfinished batch with the same
id and offsets. Appends (bronze, dead letters, the batch log) carry the query and batch id as
snapshot properties and are skipped when the table already has that batch. Silver and gold are
MERGEs that give the same table when run twice: silver inserts keys it lacks (CDC tables keep
the highest version per key), gold recomputes each touched window from silver.
"""

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime

from pyspark.sql import Column, DataFrame, Row, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.streaming.config import (
    BATCH_LOG_TABLE,
    BATCH_PROPERTY,
    DEAD_LETTER_TABLE,
    QUERY_PROPERTY,
    WINDOW_MINUTES,
    StreamSettings,
    TopicSpec,
)
from jobs.streaming.gold import GOLD_FROM_TOPIC, GoldTable, window_start
from jobs.streaming.metrics import StreamMetrics
from jobs.streaming.parse import classify, dead_letters, good_rows
from jobs.streaming.serving import Serving
from jobs.streaming.tables import BATCH_LOG_SCHEMA

log = logging.getLogger("sdp.stream")

MICROS_PER_MINUTE = 60 * 1_000_000
WINDOW_MICROS = WINDOW_MINUTES * MICROS_PER_MINUTE


def reason_kind(reason: str) -> Column:
    """A dead letter's reason without the values it quotes: its first part, up to the first
    ": " (the field, or the check: "invalid UTF-8", "missing required fields"). A metric label
    per quoted value would grow without bound."""
    first = F.substring_index(F.col(reason), "; ", 1)
    return F.substring_index(first, ": ", 1).alias("kind")


def micros(column: Column) -> Column:
    """As microseconds since the epoch: instants reach Python and SQL text with no time zone."""
    return F.unix_micros(column)


def at(us: int) -> Column:
    return F.timestamp_micros(F.lit(us))


def merge(spark: SparkSession, sql: str, attempts: int = 3) -> None:
    """Run a MERGE, again if a concurrent commit (compaction) invalidated what it read: the
    stream's MERGEs are idempotent, so a retry is safe."""
    for attempt in range(1, attempts + 1):
        try:
            spark.sql(sql)
            return
        except Exception as exc:
            conflict = any(
                name in str(exc) for name in ("ValidationException", "CommitFailedException")
            )
            if not conflict or attempt == attempts:
                raise
            log.warning("MERGE lost a commit race (%s), retrying", str(exc).splitlines()[0])


def upsert_windows(
    table: GoldTable, rows: DataFrame, lo: int, hi: int, serving: Serving | None
) -> None:
    """Upsert gold rows of windows starting in [lo, hi) (microseconds), then their serving copy:
    the stream's gold write, and the daily batch's repair of windows late events changed."""
    # Materialized without lineage: Spark 4.1 cannot plan a MERGE whose source reads an
    # Iceberg table through the DataFrame API ("No plan for TableReference", SPARK-57539,
    # fixed in 4.2). It also serves both the MERGE and the serving upsert.
    rows = rows.localCheckpoint()
    try:
        view = f"gold_updates_{table.name}"
        rows.createOrReplaceTempView(view)
        on = " AND ".join(
            f"t.{k} = s.{k}" for k in ("window_start", *table.key)
        ) + (f" AND t.window_start >= timestamp_micros({lo})"
             f" AND t.window_start < timestamp_micros({hi})")  # fmt: skip
        sql = (
            f"MERGE INTO {table.fqn} t USING {view} s ON {on} "
            "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
        )
        # Side by side: both only read the rows, and each gives the same result when run
        # again (a replayed batch). The dashboards read serving: it does not wait for the
        # Iceberg commit.
        calls = [(lambda: merge(rows.sparkSession, sql),)]
        if serving is not None:
            calls.append((lambda: serving.upsert(table, rows),))
        concurrently(rows.sparkSession, _call, calls)
    finally:
        rows.unpersist()  # the checkpoint's blocks


def cleanse(rows: DataFrame, spec: TopicSpec) -> DataFrame:
    """Silver's cleansing: surrounding whitespace off top-level strings."""
    strings = {f.name for f in spec.schema.fields if isinstance(f.dataType, T.StringType)}
    return rows.select(*[F.trim(c).alias(c) if c in strings else F.col(c) for c in rows.columns])


def latest_per_key(rows: DataFrame, key: list[str], version: str | None) -> DataFrame:
    """One row per key: the highest version (CDC), or any one (events are immutable)."""
    if version is None:
        return rows.dropDuplicates(key)
    order = F.row_number().over(Window.partitionBy(*key).orderBy(F.desc(version)))
    return rows.withColumn("_n", order).where("_n = 1").drop("_n")


def time_windows(good: DataFrame, time: str) -> list[Row]:
    """Per gold window of the rows' event time: rows (n), oldest and newest (microseconds).

    One Spark job tells the batch all it needs before writing: how many rows are good, the
    time range silver's MERGE scans and the windows gold recomputes."""
    return (
        good.groupBy(micros(window_start(F.col(time))).alias("ws"))
        .agg(
            F.count(F.lit(1)).alias("n"),
            micros(F.min(time)).alias("oldest"),
            micros(F.max(time)).alias("newest"),
        )
        .collect()
    )


def _call(fn: Callable):
    return fn()


def concurrently(spark: SparkSession, fn: Callable, calls: Iterable[tuple]) -> list:
    """fn(*args) for each args, each in its own driver thread; the results in order.

    The threads carry the caller's Spark local properties (the streaming query's job group),
    each a copy of its own: SQL executions set properties of their thread, and threads that
    shared one object (as pyspark's inheritable_thread_target does) would see each other's."""
    context = spark.sparkContext._jsc.sc()
    properties = context.getLocalProperties()

    def run(args: tuple):
        context.setLocalProperties(properties.clone())
        return fn(*args)

    calls = list(calls)
    with ThreadPoolExecutor(len(calls), thread_name_prefix="sdp-batch") as pool:
        futures = [pool.submit(run, args) for args in calls]
    return [future.result() for future in futures]


class Stopwatch:
    """Seconds spent per phase of a batch, summed over its topics (which run concurrently:
    the sum can exceed the batch's duration)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    @contextmanager
    def phase(self, name: str):
        started = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[name] += time.monotonic() - started

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.seconds.items()}


def last_batch(spark: SparkSession, table: str, query: str) -> int:
    """The newest batch id `query` committed in the table's current history, -1 for none.

    A commit an operator rolled back (`sdp lake rollback`) is among the table's snapshots but
    not in its current history: that batch, replayed, lands again. One Spark job (the snapshots
    table); the current snapshot is a table property, and its ancestors are followed here."""
    current = spark.sql(f"SHOW TBLPROPERTIES {table} ('current-snapshot-id')").first()["value"]
    rows = spark.sql(
        f"SELECT snapshot_id, parent_id, summary['{BATCH_PROPERTY}'] AS batch, "
        f"summary['{QUERY_PROPERTY}'] AS query FROM {table}.snapshots"
    ).collect()
    snapshots = {r["snapshot_id"]: r for r in rows}
    snapshot = snapshots.get(int(current)) if current.isdigit() else None
    while snapshot is not None:  # newest first: the first of the query's is its newest
        if snapshot["query"] == query and snapshot["batch"] is not None:
            return int(snapshot["batch"])
        snapshot = snapshots.get(snapshot["parent_id"])
    return -1


class BatchWriter:
    """The foreachBatch function of the stream, with what it remembers between batches."""

    def __init__(
        self,
        spark: SparkSession,
        spec: dict[str, TopicSpec],
        settings: StreamSettings,
        serving: Serving | None,
        metrics: StreamMetrics | None = None,
    ):
        self.spec = spec
        self.settings = settings
        self.serving = serving
        self.metrics = metrics
        self._committed: dict[str, int] = {}
        self.watermarks = self._load_watermarks(spark)

    # -- idempotent appends --------------------------------------------------------------
    def _last_committed(self, spark: SparkSession, table: str) -> int:
        if table not in self._committed:
            self._committed[table] = last_batch(spark, table, self.settings.query_name)
        return self._committed[table]

    def append_once(self, rows: DataFrame, table: str, batch_id: int) -> bool:
        """Append unless `table` already holds this batch; True if it appended."""
        if batch_id <= self._last_committed(rows.sparkSession, table):
            log.info("batch %s already in %s: skipped", batch_id, table)
            return False
        (
            rows.writeTo(table)
            .option(f"snapshot-property.{BATCH_PROPERTY}", str(batch_id))
            .option(f"snapshot-property.{QUERY_PROPERTY}", self.settings.query_name)
            .append()
        )
        self._committed[table] = batch_id
        return True

    # -- watermarks ----------------------------------------------------------------------
    def _load_watermarks(self, spark: SparkSession) -> dict[str, int]:
        rows = (
            spark.table(BATCH_LOG_TABLE)
            .where(F.col("query") == self.settings.query_name)
            .groupBy("topic")
            .agg(micros(F.max("watermark")).alias("us"))
            .collect()
        )
        return {r["topic"]: r["us"] for r in rows if r["us"] is not None}

    # -- silver and gold -----------------------------------------------------------------
    def merge_silver(self, good: DataFrame, spec: TopicSpec, windows: list[Row]) -> None:
        layout = spec.table
        view = f"silver_updates_{layout.name}"
        latest_per_key(cleanse(good, spec), layout.key, layout.version).createOrReplaceTempView(
            view
        )
        on = " AND ".join(f"t.{k} = s.{k}" for k in layout.key)
        if layout.version is None:
            # Duplicates share their event time: only the batch's time range needs scanning.
            lo, hi = min(r["oldest"] for r in windows), max(r["newest"] for r in windows)
            on += (
                f" AND t.{layout.time} >= timestamp_micros({lo})"
                f" AND t.{layout.time} <= timestamp_micros({hi})"
            )
            actions = "WHEN NOT MATCHED THEN INSERT *"
        else:
            actions = (
                f"WHEN MATCHED AND s.{layout.version} > t.{layout.version} THEN UPDATE SET * "
                "WHEN NOT MATCHED THEN INSERT *"
            )
        merge(
            good.sparkSession,
            f"MERGE INTO {layout.fqn('silver')} t USING {view} s ON {on} {actions}",
        )

    def update_gold(
        self, good: DataFrame, spec: TopicSpec, ingest: Column, windows: list[Row]
    ) -> int:
        """Recompute the windows this batch touched that the watermark has not closed; returns
        how many of the batch's rows fell into closed windows (late: in silver, not in gold)."""
        outputs: list[tuple[GoldTable, object]] = GOLD_FROM_TOPIC.get(spec.topic, [])
        if not outputs:
            return 0
        time = spec.table.time
        watermark = self.watermarks.get(spec.topic)
        closed = {r["ws"] for r in windows if watermark and r["ws"] + WINDOW_MICROS <= watermark}
        open_windows = sorted({r["ws"] for r in windows} - closed)
        delay = int(self.settings.watermark_minutes * MICROS_PER_MINUTE)
        newest = max(r["newest"] for r in windows) - delay
        self.watermarks[spec.topic] = max(watermark or newest, newest)
        if open_windows:
            lo, hi = open_windows[0], open_windows[-1] + WINDOW_MICROS
            silver = good.sparkSession.table(spec.table.fqn("silver")).where(
                (F.col(time) >= at(lo)) & (F.col(time) < at(hi))
            )
            # Read once, before the gold tables' threads would each read it.
            silver = silver.where(
                micros(window_start(F.col(time))).isin(open_windows)
            ).localCheckpoint()
            try:
                # Each gold table is its own commit: they too run concurrently.
                calls = [(t, f(silver).withColumn("updated_at", ingest), lo, hi, self.serving)
                         for t, f in outputs]  # fmt: skip
                concurrently(good.sparkSession, upsert_windows, calls)
            finally:
                silver.unpersist()
        return sum(r["n"] for r in windows if r["ws"] in closed)

    # -- the batch -----------------------------------------------------------------------
    def _land_topic(
        self,
        kafka: DataFrame,
        topic: str,
        batch_id: int,
        ingest: Column,
        watch: Stopwatch,
        cached: list[DataFrame],
    ) -> tuple[DataFrame, int, int]:
        """Classify one topic's records and land the good ones in bronze, silver and gold.

        Returns the classified rows (kept in `cached`: the dead letters come from them once
        every topic is done), how many were good and how many of those were late."""
        spec = self.spec[topic]
        with watch.phase("classify"):
            classified = classify(
                kafka.where(F.col("topic") == topic), spec, self.settings.future_minutes
            ).persist()
            cached.append(classified)
            good = None if spec.is_dead_letter else good_rows(classified, spec, ingest)
            windows = [] if good is None else time_windows(good, spec.table.time)
            good_count = sum(r["n"] for r in windows)
        late = 0
        if good_count:

            def bronze() -> None:
                with watch.phase("bronze"):
                    self.append_once(good, spec.table.fqn("bronze"), batch_id)

            def silver_and_gold() -> int:
                with watch.phase("silver"):
                    self.merge_silver(good, spec, windows)
                with watch.phase("gold"):
                    return self.update_gold(good, spec, ingest, windows)

            # Bronze beside silver: gold needs silver's commit, nothing needs bronze's, and
            # each write is idempotent on its own, so a replay after a crash between them
            # lands what is missing.
            _, late = concurrently(kafka.sparkSession, _call, [(bronze,), (silver_and_gold,)])
        return classified, good_count, late

    def __call__(self, kafka: DataFrame, batch_id: int) -> None:
        spark = kafka.sparkSession
        started = datetime.now(UTC)
        ingest = F.lit(started)
        watch = Stopwatch()
        # One partition per core, not one per Kafka partition: a batch runs some twenty small
        # jobs over these rows, and on a small cluster per-task overhead dominates them.
        kafka = kafka.coalesce(spark.sparkContext.defaultParallelism).persist()
        cached: list[DataFrame] = []
        try:
            with watch.phase("classify"):
                per_topic = {
                    r["topic"]: r["count"] for r in kafka.groupBy("topic").count().collect()
                }
            if not per_topic:
                return
            # Topics land concurrently: each writes its own tables, and most of a small
            # batch's time is spent waiting on commits, not computing. Topics that feed gold
            # are submitted first: their windows reach the dashboards sooner.
            order = sorted(per_topic, key=lambda t: (t not in GOLD_FROM_TOPIC, t))
            landed = concurrently(
                spark,
                self._land_topic,
                [(kafka, topic, batch_id, ingest, watch, cached) for topic in order],
            )
            results = dict(zip(order, landed, strict=True))
            dead_frames = [
                dead_letters(classified, self.spec[topic], ingest)
                for topic, (classified, good, _) in results.items()
                if good < per_topic[topic]
            ]
            dead_by_reason = {}
            if dead_frames:
                with watch.phase("dead"):
                    dead = dead_frames[0]
                    for frame in dead_frames[1:]:
                        dead = dead.unionByName(frame)
                    self.append_once(dead, DEAD_LETTER_TABLE, batch_id)
                    if self.metrics:  # from the cached classified rows: a small job
                        dead_by_reason = {
                            (r["intended_topic"], r["kind"]): r["count"]
                            for r in dead.groupBy("intended_topic", reason_kind("reason"))
                            .count()
                            .collect()
                        }
            finished = datetime.now(UTC)
            log_rows = []
            for topic, (_, good, late) in results.items():
                records, watermark = per_topic[topic], self.watermarks.get(topic)
                log_rows.append(
                    (
                        self.settings.query_name, batch_id, topic, records, good,
                        records - good, late,
                        None if watermark is None else datetime.fromtimestamp(watermark / 1e6, UTC),
                        started, finished, watch.rounded(),
                    )
                )  # fmt: skip
            with watch.phase("log"):
                batch_log = spark.createDataFrame(log_rows, BATCH_LOG_SCHEMA)
                self.append_once(batch_log, BATCH_LOG_TABLE, batch_id)
            if self.metrics:
                self.metrics.batch(
                    {t: (per_topic[t], late) for t, (_, _, late) in results.items()}, dead_by_reason
                )
            log.info(
                "batch %s: %s records in %.1f s %s", batch_id, sum(per_topic.values()),
                (finished - started).total_seconds(), watch.rounded(),
            )  # fmt: skip
        finally:
            for frame in cached:
                frame.unpersist()
            kafka.unpersist()
