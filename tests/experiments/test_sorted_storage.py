"""E1 sorted storage: its summary refuses what it must not report, and the whole experiment runs
on the platform on small data (20,000 events), its layouts rebuilt each time, with the effect it
exists to show: sorted layouts plan and read fewer files for the queries on their sort keys."""

import json
import subprocess
import sys

import pytest

from bench.sorted_storage import markdown, summarise
from jobs.experiments.sorted_storage import LAYOUTS, QUERIES, query_sql
from tests.conftest import needs_container_hosts


def run(layout: str, query: str, mode: str, seconds: float, rows: int = 10) -> dict:
    return {
        "layout": layout,
        "query": query,
        "mode": mode,
        "rep": 0,
        "seconds": seconds,
        "rows": rows,
        "revenue": "12.50",
        "users": 3,
        "bytes_read": 2**20,
        "iceberg": {
            "number of result data files": "3",
            "number of skipped data files": "1,021",
            "total data file size (bytes)": "1,048,576",
        },
    }


def all_runs(rows: dict | None = None) -> list[dict]:
    """Three runs of each query on each layout, cold and warm; `rows` (layout, query) -> rows."""
    return [
        run(layout, query, mode, seconds, (rows or {}).get((layout, query), 10))
        for layout in LAYOUTS
        for query in QUERIES
        for mode in ("cold", "warm")
        for seconds in (1.0, 3.0, 2.0)
    ]


def test_summary_gives_medians_spread_and_iceberg_counts():
    summary = summarise(all_runs())
    cell = summary["Q1 one hour"]["cold"]["time"]
    assert (cell["median_s"], cell["min_s"], cell["max_s"], cell["runs"]) == (2.0, 1.0, 3.0, 3)
    assert (cell["files_planned"], cell["files_skipped"], cell["bytes_planned"]) == (3, 1021, 2**20)
    meta = {"rows": 20000, "files": 8, "hardware": "h", "versions": {"spark": "4", "iceberg": "1"},
            "setup": "s", "command": "c", "bench_seconds": 1}  # fmt: skip
    table = markdown(summary, [{"layout": "random", "built_s": None, "files": 8, "bytes": 2**20}],
                     meta)  # fmt: skip
    assert "| Q2 one product | 10 | 2.00 (1.00–3.00), 3/1024 files, 1.0 MiB |" in table


def test_summary_refuses_queries_whose_results_differ_between_layouts():
    with pytest.raises(SystemExit, match="different results across layouts"):
        summarise(all_runs({("zorder", "Q3 product in hour"): 11}))


def test_queries_filter_on_the_sort_keys_and_quote_the_product():
    sql = query_sql("Q3 product in hour", "t", "2024-05-04 12:00:00", "P'1")
    assert "product_id = 'P\\'1'" in sql  # Spark reads 'P''1' as 'P' '1': P1
    assert "timestamp >= TIMESTAMP '2024-05-04 12:00:00'" in sql
    assert "sum(price)" in sql  # not a bare count, which Iceberg answers from metadata


@pytest.mark.integration
@pytest.mark.experiment
@needs_container_hosts
def test_sorted_layouts_skip_files_on_their_keys(platform, tmp_path, stopwatch):
    with stopwatch("E1 sorted storage on 20,000 events"):
        result = subprocess.run(
            [sys.executable, "-m", "bench.sorted_storage", "--rows", "20000", "--files", "8",
             "--cold", "1", "--warm", "1", "--rebuild", "--keep-stream", "--out", str(tmp_path)],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = json.loads((tmp_path / "results.json").read_text())
    assert all(d["built_s"] is not None for d in document["layouts"])  # --rebuild
    summary = document["summary"]
    for query in QUERIES:
        for mode in ("cold", "warm"):
            cells = summary[query][mode]
            assert set(cells) == set(LAYOUTS)
            assert len({c["rows"] for c in cells.values()}) == 1
            assert cells["random"]["files_skipped"] == 0
    hour, product = summary["Q1 one hour"]["warm"], summary["Q2 one product"]["warm"]
    assert hour["time"]["files_planned"] < hour["random"]["files_planned"] / 4
    assert product["product_time"]["files_planned"] < product["random"]["files_planned"] / 4
    assert product["product_time"]["bytes_read"] < product["random"]["bytes_read"] / 4
    assert (tmp_path / "results.png").stat().st_size > 10_000
    assert "| Q3 product in hour |" in (tmp_path / "results.md").read_text()
