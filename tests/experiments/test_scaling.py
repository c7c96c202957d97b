"""E2 distributed processing: the Spark jobs and the single process compute the same results, the
summary's arithmetic, and a result that differs is refused. The experiment itself runs on the
multi-host test cluster in `make test-experiments` (tests/multihost, marker `experiment`)."""

import json

import pyarrow.csv
import pytest

from bench.experiment import START
from bench.scaling import PRODUCTS, agree, check_results, markdown, summarise
from bench.single_process import COLUMNS, COMPUTATIONS
from generator.catalog import load_catalog
from generator.simulator import SHOPPING, Simulator
from jobs.experiments.scaling import JOBS


@pytest.fixture(scope="module")
def events_file(tmp_path_factory):
    """4,000 shopping events over two simulated days, as the experiment's input is."""
    sim = Simulator(load_catalog(), seed=3, start=START, rate=4000 / (2 * 86400))
    path = tmp_path_factory.mktemp("e2") / "events.json"
    lines = []
    while len(lines) < 4000:
        lines += [json.dumps(r) for t, _, r in sim.step() if t == SHOPPING]
    path.write_text("\n".join(lines[:4000]) + "\n")
    return path


def test_spark_and_one_process_compute_the_same(spark, stream_spec, events_file):
    events = spark.read.schema(stream_spec["shopping-events"].schema).json(str(events_file))
    products = spark.read.csv(str(PRODUCTS), header=True)
    arrow_events = events.select(*COLUMNS).toArrow()
    arrow_products = pyarrow.csv.read_csv(PRODUCTS).select(["product_id", "item"])
    assert set(JOBS) == set(COMPUTATIONS)
    for job, build in JOBS.items():
        on_spark = sorted([r.key, r.n, r.value] for r in build(events, products).collect())
        alone = COMPUTATIONS[job](arrow_events, arrow_products)
        assert len(on_spark) > 1, job
        assert agree(on_spark, alone), (job, on_spark, alone)


def run(job: str, n: int, seconds: float, result) -> dict:
    cpu = {f"w{i}": 1.0 for i in range(n)}
    return {"job": job, "rep": 0, "seconds": seconds, "rows_in": 1000, "cores": n,
            "result": [list(r) for r in result], "cpu_s": cpu}  # fmt: skip


def measured(seconds: dict[int, float], result=(("a", 1, 1.0),)) -> list[dict]:
    return [
        {
            "workers": n,
            "runs": [run(job, n, s, result) for job in JOBS],
            "executors": [{"host": f"w{i}", "peak_heap": 2**27} for i in range(n)],
            "load": {f"w{i}": {"busy_cpus": 1.0, "memory_used": 2**30} for i in range(n)},
        }
        for n, s in seconds.items()
    ]


BASE = {
    "rows_in": 1000,
    "read_s": 0.5,
    "jobs": {j: {"seconds": [2.0], "result": [["a", 1, 1.0]]} for j in JOBS},
}


def test_summary_gives_speed_up_and_efficiency():
    runs = measured({1: 10.0, 2: 6.0, 4: 5.0})
    summary = summarise(runs, BASE)
    cells = summary["join"]["workers"]
    assert (cells[2]["speedup"], cells[2]["efficiency"]) == (1.67, 0.83)
    assert (cells[4]["speedup"], cells[4]["efficiency"]) == (2.0, 0.5)
    assert cells[1]["records_per_s"] == 100 and summary["join"]["single_process_s"] == 2.0
    meta = {"rows": 1000, "hardware": "h", "versions": {"spark": "4", "iceberg": "1"},
            "setup": "s", "command": "c", "bench_seconds": 1, "steps_text": "t", "reps": 1,
            "node_exporter_note": ""}  # fmt: skip
    table = markdown(summary, runs, BASE, meta)
    assert "| window | 4 worker(s) (4) | 5.00 (5.00–5.00) | 200 | ×2.00 | 0.50 |" in table
    assert "| join | one process (1) | 2.00 (2.00–2.00) | 500 | | |" in table


def test_a_result_that_differs_from_the_single_process_is_refused():
    check_results(measured({1: 1.0}, (("a", 1, 1.0 + 1e-12),)), BASE)  # summation order
    with pytest.raises(SystemExit, match="differs from the single process"):
        check_results(measured({1: 1.0}, (("a", 2, 1.0),)), BASE)
