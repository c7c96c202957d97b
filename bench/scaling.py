"""Experiment E2, distributed processing: the same three Spark jobs on 1, 2 and 4 workers, each
added by the project's own scale-out, and the same computation in one local process.

    python -m bench.scaling                                   # 10M events; 1, 2, 4 workers
    python -m bench.scaling --rows 20000 --workers 1,2 --reps 1 --out /tmp/e2

The cluster: the `scaling` profile of cluster.yml (every service but the workers on one container
host; one-core workers), copied to `--work` with its inventory. A `--work` that holds a
cluster.yml is that cluster (`--profile` and `--pool` name its workers' pool).

1. The first count of `--workers`: the pool's count set to it, the inventory generated, and
   `sdp platform up` unless the platform is up with that many workers already.
2. The generator's shopping events (`--seed`, `--days`; the input E1 uses too) on the cluster's
   MinIO, and jobs/experiments/scaling.py `prepare`: them and the products into Iceberg.
3. For each count: its `run` on the master, after the application has an executor on every
   worker; then the next count, as a user scales out: the pool's count raised, the inventory
   regenerated, and `sdp platform scale-out` the new workers (it boots container hosts).
4. The baseline: the same three computations with pyarrow and numpy in this process, on one
   core, over the same tables (read with pyiceberg first, not timed).

A job whose result differs between counts or from the baseline is an error, not a cell. The
results go to `--out`: results.json (every run, the hardware, versions, settings and what each
step took), results.md (median and spread, records/s, speed-up, efficiency, per-worker CPU and
memory) and results.png. The cluster is left running (`--destroy` removes it).
"""

import argparse
import hashlib
import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.experiment import (
    cluster_arguments,
    ensure_input,
    fields,
    input_arguments,
    run_job,
    warehouse,
)
from bench.stream_pipeline import hardware, sdp
from jobs.experiments.scaling import JOBS, SETTINGS, WINDOW_HOURS
from sdp.bundle import served
from sdp.cluster.spec_copy import SpecCopy
from sdp.paths import REPO_ROOT
from sdp.platform import settings
from sdp.platform.autoscale import Pool
from sdp.platform.checks import prometheus_query, s3_client, s3_endpoint, stream_application
from sdp.platform.inventory import Inventory, load_inventory
from sdp.processes import SDP, ServiceError

JOB = "jobs/experiments/scaling.py"
PRODUCTS = REPO_ROOT / "generator" / "data" / "products.csv"
TOLERANCE = 1e-9  # sums of doubles in another order (partitions, the baseline) differ this little


def counts(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a list of numbers (1,2,4)") from None
    if not values or values[0] < 1 or values != sorted(set(values)):
        raise argparse.ArgumentTypeError(f"{text!r}: counts of workers, increasing, from 1 up")
    return values


def platform_with(cluster: SpecCopy, workers: int) -> tuple[Inventory, float]:
    """The platform up with `workers` workers in the pool: (its inventory, seconds it took)."""
    started, current = time.monotonic(), cluster.count()
    if current > workers:
        sys.exit(
            f"{cluster.spec}: pool {cluster.pool} has {current} workers, more than the first "
            f"count of --workers ({workers}); remove that cluster (sdp hosts destroy "
            f"{cluster.inventory_dir}, then its folder) or use another --work"
        )
    ready = current == workers and (cluster.inventory_dir / "hosts.yml").exists()
    inv = cluster.workers(workers)
    status = [SDP, "platform", "status", "-i", str(cluster.inventory_dir)]
    if not (ready and subprocess.run(status, capture_output=True).returncode == 0):
        print(f"platform up: {len(inv.hostvars)} hosts, {workers} worker(s)", file=sys.stderr)
        sdp("platform", "up", "-i", str(cluster.inventory_dir), show=True)
    return inv, time.monotonic() - started


def scale_out(cluster: SpecCopy, workers: int) -> tuple[Inventory, float, list[str]]:
    """The pool raised to `workers` as a user does it (sdp/platform/autoscale.py's Pool):
    (inventory, seconds, the playbook's recap lines)."""
    started = time.monotonic()
    try:
        new, recap = Pool(cluster).scale_out(workers)
    except ServiceError as exc:
        sys.exit(str(exc))
    print(f"scaled out: {', '.join(new)}", file=sys.stderr)
    return load_inventory(cluster.inventory_dir), time.monotonic() - started, recap


@contextmanager
def stream_paused(cluster: SpecCopy, inv: Inventory) -> Iterator[None]:
    """A running stream stopped for the jobs (with every core it would hold the workers' cores,
    and it would share their CPUs), started again after them."""
    if stream_application(inv) is None:
        yield
        return
    print("the stream holds the workers' cores: stopped for the runs", file=sys.stderr)
    sdp("stream", "stop", "-i", str(cluster.inventory_dir))
    try:
        yield
    finally:
        sdp("stream", "start", "-i", str(cluster.inventory_dir))


def products_input(inv: Inventory) -> str:
    """The generator's products on the lake's bucket, under a name their content gives."""
    body = PRODUCTS.read_bytes()
    bucket, prefix = warehouse(inv)
    key = f"{prefix}experiments/input/products-{hashlib.sha256(body).hexdigest()[:12]}.csv"
    s3_client(inv, s3_endpoint(inv)).put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3a://{bucket}/{key}"


def _brief(d: dict) -> str:
    if "job" in d:
        return f"{d['job']} on {d['executors']} worker(s): {d['seconds']} s"
    return fields(d)


def worker_load(inv: Inventory, seconds: float) -> dict[str, dict]:
    """Per worker host, from Prometheus (node_exporter), over the last `seconds`: busy CPUs on
    average and the most memory in use."""
    interval = int(settings.role("prometheus", "prometheus_scrape_interval").rstrip("s"))
    window = f"{max(math.ceil(seconds), 2 * interval + 1)}s"
    workers = "|".join(inv.hosts("spark_worker"))
    busy = f'node_cpu_seconds_total{{job="node",instance=~"{workers}",mode!~"idle|iowait|steal"}}'
    cpu = prometheus_query(inv, f"sum by (instance) (rate({busy}[{window}]))")
    memory = prometheus_query(inv, f'max_over_time((node_memory_MemTotal_bytes{{job="node",'
                              f'instance=~"{workers}"}} - node_memory_MemAvailable_bytes)'
                              f"[{window}:{interval}s])")  # fmt: skip
    load: dict[str, dict] = {h: {} for h in inv.hosts("spark_worker")}
    for key, value in cpu.items():
        load[dict(key)["instance"]]["busy_cpus"] = round(value, 2)
    for key, value in memory.items():
        load[dict(key)["instance"]]["memory_used"] = int(value)
    missing = [h for h, v in load.items() if set(v) != {"busy_cpus", "memory_used"}]
    if missing:
        raise SystemExit(f"Prometheus has no node_exporter data for {', '.join(missing)}")
    return load


def measure(inv: Inventory, name: str, reps: int) -> dict:
    """The jobs on every worker the inventory has: their runs, executors and the workers' load."""
    workers = inv.hosts("spark_worker")
    started = time.monotonic()
    args = ["run", "--name", name, "--executors", str(len(workers)), "--reps", str(reps)]
    lines = run_job(inv, JOB, f"sdp-e2-{len(workers)}", args, _brief)
    seconds = time.monotonic() - started
    runs = [d for kind, d in lines if kind == "RESULT"]
    executors = next(d["executors"] for kind, d in lines if kind == "EXECUTORS")
    on = sorted(e["host"] for e in executors)
    if on != sorted(inv.addresses("spark_worker")):
        raise SystemExit(f"the jobs ran on {on}, not on one executor per worker {workers}")
    by_address = {inv.address(h): h for h in workers}
    for r in runs:
        r["cpu_s"] = {by_address.get(a, a): s for a, s in r["cpu_s"].items()}
    for e in executors:
        e["host"] = by_address[e["host"]]
    return {"workers": len(workers), "runs": runs, "executors": executors,
            "load": worker_load(inv, seconds), "seconds": round(seconds, 1)}  # fmt: skip


def baseline(inv: Inventory, name: str, reps: int) -> dict:
    """The three computations in this process on one core (pyarrow's pool set to one thread):
    per job its median seconds and result; reading the tables is timed apart."""
    import pyarrow as pa

    from bench.single_process import COMPUTATIONS, read_tables

    pa.set_cpu_count(1)
    started = time.perf_counter()
    events, products = read_tables(inv, name)
    read_s = time.perf_counter() - started
    out = {"read_s": round(read_s, 3), "rows_in": events.num_rows, "jobs": {}}
    for job, compute in COMPUTATIONS.items():
        seconds, result = [], None
        for _ in range(reps):
            started = time.perf_counter()
            result = compute(events, products)
            seconds.append(time.perf_counter() - started)
        out["jobs"][job] = {"seconds": [round(s, 6) for s in seconds], "result": result}
        print(f"  baseline {job}: {statistics.median(seconds):.2f} s", file=sys.stderr)
    return out


def agree(a: list[list], b: list[list]) -> bool:
    return len(a) == len(b) and all(
        x[0] == y[0] and x[1] == y[1] and math.isclose(x[2], y[2], rel_tol=TOLERANCE)
        for x, y in zip(a, b, strict=True)
    )


def check_results(measured: list[dict], base: dict) -> None:
    """Every run of a job, on every count, gives the baseline's result; refuses otherwise."""
    rows_in = {r["rows_in"] for m in measured for r in m["runs"]} | {base["rows_in"]}
    if len(rows_in) != 1:
        raise SystemExit(f"the jobs read different numbers of events: {sorted(rows_in)}")
    for m in measured:
        for r in m["runs"]:
            want = base["jobs"][r["job"]]["result"]
            if not agree(r["result"], want):
                raise SystemExit(
                    f"{r['job']} on {m['workers']} worker(s), run {r['rep']}: {r['result']} "
                    f"differs from the single process' {want}"
                )


def summarise(measured: list[dict], base: dict) -> dict:
    """Per job and count: median seconds and spread, records/s, speed-up and efficiency against
    the smallest count (T1 / (n * Tn) when it is 1), and the baseline's median."""
    rows_in, first = base["rows_in"], measured[0]["workers"]
    summary: dict = {}
    for job in JOBS:
        base_s = statistics.median(base["jobs"][job]["seconds"])
        cells, t_first = {}, None
        for m in measured:
            seconds = sorted(r["seconds"] for r in m["runs"] if r["job"] == job)
            median = statistics.median(seconds)
            t_first = t_first or median
            cpu: dict[str, list] = {}
            for r in m["runs"]:
                if r["job"] == job:
                    for host, s in r["cpu_s"].items():
                        cpu.setdefault(host, []).append(s)
            cells[m["workers"]] = {
                "runs": len(seconds), "median_s": round(median, 3), "min_s": seconds[0],
                "max_s": seconds[-1], "records_per_s": round(rows_in / median),
                "speedup": round(t_first / median, 2),
                "efficiency": round(first * t_first / (m["workers"] * median), 2),
                "cores": next(r["cores"] for r in m["runs"] if r["job"] == job),
                "task_cpu_s": {h: round(statistics.median(v), 2) for h, v in sorted(cpu.items())},
            }  # fmt: skip
        summary[job] = {"workers": cells, "single_process_s": round(base_s, 3),
                        "single_process_records_per_s": round(rows_in / base_s)}  # fmt: skip
    return summary


def _s(seconds: float) -> str:
    return f"{seconds:.2f}" if seconds >= 1 else f"{seconds:.3f}"


def markdown(summary: dict, measured: list[dict], base: dict, meta: dict) -> str:
    base_spread = {j: (min(b["seconds"]), max(b["seconds"])) for j, b in base["jobs"].items()}
    counts_ = [m["workers"] for m in measured]
    first = counts_[0]
    lines = [
        f"# E2 distributed processing: {meta['rows']:,} shopping events, "
        f"{'/'.join(map(str, counts_))} workers",
        "",
        f"{meta['hardware']}; Spark {meta['versions']['spark']}, Iceberg "
        f"{meta['versions']['iceberg']}; {meta['setup']}.",
        f"Command: `{meta['command']}` ({meta['bench_seconds']} s; {meta['steps_text']}).",
        f"Settings, fixed on every count: {', '.join(f'{k}={v}' for k, v in SETTINGS.items())}; "
        f"{meta['reps']} timed runs after one untimed, per job and count. Spark's times include "
        f"reading the tables from MinIO; the one process read them (pyiceberg) in "
        f"{base['read_s']:.1f} s before its runs, not counted.",
        "",
        f"| job | where (Spark cores) | median s (min–max) | records/s | speed-up vs {first} "
        f"| efficiency {first}·T{first}/(n·Tn) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]  # fmt: skip
    for job, s in summary.items():
        spread = base_spread[job]
        lines.append(f"| {job} | one process (1) | {_s(s['single_process_s'])} ({_s(spread[0])}–"
                     f"{_s(spread[1])}) | {s['single_process_records_per_s']:,} | | |")  # fmt: skip
        for n, c in s["workers"].items():
            lines.append(
                f"| {job} | {n} worker(s) ({c['cores']}) | {_s(c['median_s'])} ({_s(c['min_s'])}–"
                f"{_s(c['max_s'])}) | {c['records_per_s']:,} | ×{c['speedup']:.2f} | "
                f"{c['efficiency']:.2f} |"
            )
    lines += [
        "",
        "Per worker: CPU seconds its tasks used in one run of each job (median; Spark's task "
        "metrics), busy CPUs and most memory in use while the count's runs lasted (Prometheus, "
        f"node_exporter{meta['node_exporter_note']}), its executor's peak JVM heap.",
        "",
        "| workers | worker | " + " | ".join(f"{j} CPU s" for j in JOBS)
        + " | busy CPUs | memory MiB | peak heap MiB |",
        "| --- | --- | " + " | ".join("---" for _ in JOBS) + " | --- | --- | --- |",
    ]  # fmt: skip
    for m in measured:
        heap = {e["host"]: e["peak_heap"] for e in m["executors"]}
        for host, load in m["load"].items():
            cpu = [summary[j]["workers"][m["workers"]]["task_cpu_s"].get(host, 0) for j in JOBS]
            peak = f"{heap[host] / 2**20:,.0f}" if heap.get(host) else "not reported"
            lines.append(
                f"| {m['workers']} | {host} | " + " | ".join(f"{c:.1f}" for c in cpu)
                + f" | {load['busy_cpus']:.2f} | {load['memory_used'] / 2**20:,.0f} | {peak} |"
            )  # fmt: skip
    return "\n".join(lines) + "\n"


def plot(summary: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (job, s) in enumerate(summary.items()):
        color = f"C{i}"
        ns = list(s["workers"])
        cells = [s["workers"][n] for n in ns]
        ys = [c["median_s"] for c in cells]
        err = [[y - c["min_s"] for y, c in zip(ys, cells, strict=True)],
               [c["max_s"] - y for y, c in zip(ys, cells, strict=True)]]  # fmt: skip
        left.errorbar(ns, ys, yerr=err, marker="o", capsize=3, color=color, label=job)
        left.axhline(s["single_process_s"], color=color, linestyle=":", linewidth=1)
        right.plot(ns, [c["efficiency"] for c in cells], marker="o", color=color, label=job)
    left.set(xlabel="Spark workers", ylabel="seconds (median, min–max)", xticks=ns,
             title="time; dotted: one process, one core")  # fmt: skip
    left.set_ylim(bottom=0)
    right.set(xlabel="Spark workers", ylabel="efficiency", xticks=ns, ylim=(0, 1.1),
              title="scaling efficiency")  # fmt: skip
    right.axhline(1, color="grey", linewidth=0.8)
    left.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    input_arguments(p)
    p.add_argument("--files", type=int, default=32, help="data files of the events' table")
    p.add_argument("--workers", type=counts, default=[1, 2, 4], help="counts, increasing (1,2,4)")
    p.add_argument("--reps", type=int, default=3, help="timed runs of each job on each count")
    cluster_arguments(p, "scaling", "scaling", "sdp-scaling-worker")
    args = p.parse_args()
    if min(args.rows, args.files, args.reps) < 1 or args.seed < 0 or args.days <= 0:
        p.error("--rows, --files and --reps must be positive, --seed 0 or more, --days over 0")
    cluster = SpecCopy(args.spec, args.profile, args.pool, args.work)
    started, steps = time.monotonic(), {}
    inv, steps["platform up"] = platform_with(cluster, args.workers[0])
    name = f"s{args.seed}d{args.days:g}r{args.rows}".replace(".", "_")
    measured, scale_outs = [], []
    with stream_paused(cluster, inv):
        step = time.monotonic()
        url, products = ensure_input(inv, args.seed, args.days, args.rows), products_input(inv)
        print("prepare: the events and products in Iceberg", file=sys.stderr)
        run_job(inv, JOB, "sdp-e2-prepare", [
            "prepare", "--spec", settings.platform("sdp_stream_spec"), "--input", url,
            "--products", products, "--rows", str(args.rows), "--name", name,
            "--files", str(args.files)])  # fmt: skip
        steps["input and prepare"] = time.monotonic() - step
        for i, workers in enumerate(args.workers):
            if i:
                inv, steps[f"scale-out to {workers}"], out = scale_out(cluster, workers)
                scale_outs.append(out)
            print(f"run: the jobs on {workers} worker(s)", file=sys.stderr)
            measured.append(measure(inv, name, args.reps))
    print("baseline: one process, one core", file=sys.stderr)
    step = time.monotonic()
    base = baseline(inv, name, args.reps)
    steps["baseline"] = time.monotonic() - step
    check_results(measured, base)
    summary = summarise(measured, base)
    steps = {k: round(v) for k, v in steps.items()}
    worker_cores = inv.hostvars[inv.hosts("spark_worker")[0]].get("spark_worker_cores")
    meta = {
        "experiment": "E2 distributed processing",
        "hardware": hardware() + " (the control node; container hosts share its cores)"
        if inv.container_hosts else hardware() + " (the control node)",
        "setup": f"{len(inv.hostvars)} hosts of profile {args.profile} ({cluster.spec}), "
                 f"workers of pool {args.pool}, {worker_cores} core(s) each",
        "node_exporter_note": "; container hosts share this machine's kernel, so each reports "
        "the whole machine" if inv.container_hosts else "",
        "versions": {c: served.version(c) for c in ("spark", "iceberg", "minio")},
        "rows": args.rows, "seed": args.seed, "days": args.days, "files": args.files,
        "reps": args.reps, "window_hours": WINDOW_HOURS, "settings": SETTINGS,
        "tables": name, "input": url, "steps": steps,
        "steps_text": ", ".join(f"{k} {v} s" for k, v in steps.items()),
        "command": " ".join(["python -m bench.scaling", *sys.argv[1:]]),
        "bench_seconds": round(time.monotonic() - started),
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    document = {**meta, "summary": summary, "measured": measured, "baseline": base,
                "scale_out_recaps": scale_outs}  # fmt: skip
    (args.out / "results.json").write_text(json.dumps(document, indent=1, default=str) + "\n")
    (args.out / "results.md").write_text(markdown(summary, measured, base, meta))
    plot(summary, args.out / "results.png", f"E2 distributed processing, {args.rows:,} events")
    print((args.out / "results.md").read_text())
    if args.destroy:
        sdp("hosts", "destroy", str(cluster.inventory_dir))
    else:
        print(f"the cluster runs on; to remove it: sdp hosts destroy {cluster.inventory_dir}",
              file=sys.stderr)  # fmt: skip


if __name__ == "__main__":
    main()
