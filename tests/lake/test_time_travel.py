"""`sdp lake` on the platform's catalog: a table's snapshots, the table as of a snapshot or a
time, a rollback and the move forward again that undoes it. The table is this run's own, in its
own namespace; a table of the stream is rolled back in tests/streaming, with the stream stopped."""

import json
import time
import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from sdp.platform.inventory import LOCAL_INVENTORY
from tests.conftest import needs_container_hosts, sdp

pytestmark = [pytest.mark.integration, needs_container_hosts]
INVENTORY = str(LOCAL_INVENTORY)
SCHEMA = pa.schema([("id", pa.int64()), ("label", pa.string())])


def lake_cli(*args: str, ok: bool = True):
    result = sdp("lake", *args, "-i", INVENTORY, timeout=120)
    assert (result.returncode == 0) == ok, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def rows(first: int, count: int, label: str) -> pa.Table:
    return pa.table({"id": pa.array(range(first, first + count), pa.int64()),
                     "label": [label] * count}, schema=SCHEMA)  # fmt: skip


@pytest.fixture
def table(lake):
    namespace, name = "tests", f"time_travel_{uuid.uuid4().hex[:8]}"
    lake.create_namespace_if_not_exists(namespace)
    yield lake.create_table(f"{namespace}.{name}", schema=SCHEMA)
    lake.purge_table(f"{namespace}.{name}")  # its files too


def test_a_table_read_as_of_a_snapshot_or_a_time_and_rolled_back_and_forward(table):
    name = ".".join(table.name()[-2:])
    table.append(rows(0, 100, "first"))
    first = table.current_snapshot()
    time.sleep(1.2)  # a moment between the commits, to travel to by time
    between = datetime.now(UTC)
    time.sleep(1.2)
    table.append(rows(100, 50, "second"))
    second = table.current_snapshot()

    listed = json.loads(lake_cli("snapshots", name, "--json").stdout)
    assert [(s["snapshot_id"], s["operation"], s["added_records"], s["total_records"],
             s["current"]) for s in listed] == [
        (first.snapshot_id, "append", 100, 100, False),
        (second.snapshot_id, "append", 50, 150, True),
    ]  # fmt: skip

    by_id = json.loads(lake_cli("read", name, "--snapshot", str(first.snapshot_id),
                                "--limit", "1000", "--json").stdout)  # fmt: skip
    by_time = json.loads(lake_cli("read", name, "--at", between.isoformat(),
                                  "--limit", "1000", "--json").stdout)  # fmt: skip
    assert by_id["rows"] == by_time["rows"] == 100
    assert by_id == by_time
    assert sorted(r["id"] for r in by_id["sample"]) == list(range(100))

    back = lake_cli("rollback", name, "--snapshot", str(first.snapshot_id))
    assert "rows 150 → 100" in back.stderr
    table.refresh()
    assert table.current_snapshot().snapshot_id == first.snapshot_id
    assert table.scan().to_arrow().num_rows == 100
    listed = json.loads(lake_cli("snapshots", name, "--json").stdout)
    assert [(s["current"], s["in_history"]) for s in listed] == [(True, True), (False, False)]

    # Nothing was deleted: the snapshot left behind is made current again.
    lake_cli("rollback", name, "--snapshot", str(second.snapshot_id))
    table.refresh()
    assert table.scan().to_arrow().num_rows == 150

    refused = lake_cli("rollback", name, "--snapshot", "42", ok=False)
    assert "snapshot 42 is not in the table's metadata" in refused.stderr
    early = lake_cli("read", name, "--at", "2020-01-01T00:00:00+00:00", ok=False)
    assert "the table had no snapshot at 2020-01-01" in early.stderr


def test_a_table_the_running_stream_writes_is_not_rolled_back(lake):
    table = lake.load_table("bronze.shopping_events")
    current = table.current_snapshot()
    if current is None or current.parent_snapshot_id is None:
        pytest.skip("the stream has not written bronze.shopping_events twice yet")
    refused = lake_cli("rollback", "bronze.shopping_events", "--snapshot",
                       str(current.parent_snapshot_id), ok=False)  # fmt: skip
    assert "is written by a stream that runs (its unit sdp-stream on sdp-local is active)" in (
        refused.stderr
    )
    table.refresh()
    assert table.current_snapshot().snapshot_id != current.parent_snapshot_id
