"""Experiment E1, sorted storage, on the running platform (`make up`): how much sorting the same
shopping events helps three queries.

    python -m bench.sorted_storage                         # 10M events, 32 files per layout
    python -m bench.sorted_storage --rows 20000 --files 8 --cold 1 --warm 1 --out /tmp/e1

1. The generator's shopping events (`--seed`, `--days` of simulated time on the daily curve)
   go as gzipped JSON lines to the warehouse bucket, once per (seed, days, rows).
2. jobs/experiments/sorted_storage.py `prepare` on the master host writes them to Iceberg in
   four layouts (random; sorted by timestamp; by product_id, timestamp; z-order on both), each
   built once per input.
3. Its `query` runs Q1 (one hour), Q2 (one product) and Q3 (that product in that hour) on each
   layout: `--cold` times each in a new Spark application after the MinIO hosts' page caches
   are dropped, `--warm` times each in one application after a run not counted.
4. A query whose rows differ between layouts, or a run without Iceberg's scan metrics, is an
   error, not a cell. The results go to `--out`: results.json (every run, the hardware,
   versions and settings), results.md (medians and spread, ratios to random) and results.png.

The stream is stopped while it runs (it would compete for the two cores) and started again
afterwards, unless `--keep-stream`.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench.experiment import ensure_input, fields, input_arguments, run_job, succeeds_on
from bench.stream_pipeline import hardware, sdp
from jobs.experiments.sorted_storage import LAYOUTS, QUERIES
from sdp.bundle import served
from sdp.hosts.nspawn import host_dir, state_dir
from sdp.paths import REPO_ROOT
from sdp.platform import settings
from sdp.platform.checks import stream_application
from sdp.platform.inventory import LOCAL_INVENTORY, Inventory, load_inventory

JOB = "jobs/experiments/sorted_storage.py"
BARRIERS = "/tmp"  # on the master: where the job waits for the files that start its cold runs


def drop_page_caches(inv: Inventory) -> None:
    """Empties the page cache of every MinIO host, so a cold run reads from disk. Container
    hosts cannot (/proc/sys is read-only there) but share this machine's kernel: drop it here."""
    local = False
    for host in inv.hosts("minio"):
        if succeeds_on(inv, host, "sync && echo 3 > /proc/sys/vm/drop_caches"):
            continue
        if not host_dir(state_dir(), host).is_dir():
            sys.exit(f"cannot drop the page cache of {host}: a cold run would not be cold")
        local = True
    if local:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def _brief(d: dict) -> str:
    if "query" in d:
        return f"{d['mode']} {d['layout']} {d['query']}: {d['seconds']} s, {d['rows']} rows"
    return fields(d)


def summarise(runs: list[dict]) -> dict:
    """Per query, layout and mode: median seconds and spread, files and bytes; refuses results
    whose rows differ between layouts."""
    rows: dict[str, set] = defaultdict(set)
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        rows[r["query"]].add((r["rows"], r["revenue"], r["users"]))
        cells[(r["query"], r["layout"], r["mode"])].append(r)
    unequal = {q: sorted(v, key=str) for q, v in rows.items() if len(v) != 1}
    if unequal:
        raise SystemExit(f"queries returned different results across layouts: {unequal}")
    summary = {}
    for (query, layout, mode), cell in cells.items():
        seconds = sorted(r["seconds"] for r in cell)
        metrics = cell[0]["iceberg"]
        summary.setdefault(query, {}).setdefault(mode, {})[layout] = {
            "runs": len(cell),
            "median_s": round(statistics.median(seconds), 3),
            "min_s": seconds[0],
            "max_s": seconds[-1],
            "files_planned": _metric(metrics, "number of result data files"),
            "files_skipped": _metric(metrics, "number of skipped data files"),
            "bytes_planned": _metric(metrics, "total data file size (bytes)"),
            "bytes_read": statistics.median(r["bytes_read"] for r in cell),
            "rows": cell[0]["rows"],
        }
    return summary


def _metric(metrics: dict, name: str) -> int:
    if name not in metrics:
        raise SystemExit(f"Iceberg's scan reported no '{name}' (it reported: {sorted(metrics)})")
    return int(str(metrics[name]).replace(",", "").split()[0])


def markdown(summary: dict, layouts: list[dict], meta: dict) -> str:
    names = list(LAYOUTS)
    lines = [
        f"# E1 sorted storage: {meta['rows']:,} shopping events, {meta['files']} files a layout",
        "",
        f"{meta['hardware']}; Spark {meta['versions']['spark']}, Iceberg "
        f"{meta['versions']['iceberg']}; {meta['setup']}.",
        f"Command: `{meta['command']}` ({meta['bench_seconds']} s).",
        "",
        "| layout | files | MiB | built in s |",
        "| --- | --- | --- | --- |",
    ]
    for d in layouts:
        built = "kept" if d["built_s"] is None else d["built_s"]
        lines.append(f"| {d['layout']} | {d['files']} | {d['bytes'] / 2**20:,.1f} | {built} |")
    for mode in ("cold", "warm"):
        lines += ["", f"## {mode}: median seconds (min–max), files read of all, MiB read", "",
                  "| query | rows | " + " | ".join(names) + " | best vs random |",
                  "| --- | --- | " + " | ".join("---" for _ in names) + " | --- |"]  # fmt: skip
        for query, modes in summary.items():
            if mode not in modes:
                continue
            cells = modes[mode]
            row = [query, f"{cells[names[0]]['rows']:,}"]
            for name in names:
                c = cells[name]
                total = c["files_planned"] + c["files_skipped"]
                mib = c["bytes_read"] / 2**20
                row.append(f"{c['median_s']:.2f} ({c['min_s']:.2f}–{c['max_s']:.2f}), "
                           f"{c['files_planned']}/{total} files, {mib:,.1f} MiB")  # fmt: skip
            best = min(names[1:], key=lambda n: cells[n]["median_s"])
            ratio = cells["random"]["median_s"] / cells[best]["median_s"]
            row.append(f"{best} ×{ratio:.1f}")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def plot(summary: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, queries = list(LAYOUTS), list(QUERIES)
    modes = [m for m in ("cold", "warm") if any(m in summary[q] for q in queries)]
    fig, axes = plt.subplots(1, len(modes) + 1, figsize=(5 * (len(modes) + 1), 4.2))
    width = 0.8 / len(names)
    panels = [(m, "median_s", "seconds (median, min–max)") for m in modes]
    panels.append((modes[0], "bytes_read", "MiB read by Spark's tasks"))
    for ax, (mode, key, label) in zip(axes, panels, strict=True):
        for i, name in enumerate(names):
            cells = [summary[q][mode][name] for q in queries]
            xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(queries))]
            if key == "median_s":
                ys = [c["median_s"] for c in cells]
                err = [[y - c["min_s"] for y, c in zip(ys, cells, strict=True)],
                       [c["max_s"] - y for y, c in zip(ys, cells, strict=True)]]  # fmt: skip
                ax.bar(xs, ys, width, yerr=err, capsize=2, label=name)
            else:
                ax.bar(xs, [c["bytes_read"] / 2**20 for c in cells], width, label=name)
        ax.set_xticks(range(len(queries)), [q.split(" ", 1)[1] for q in queries])
        ax.set_title(f"{mode}: {label}" if key == "median_s" else label)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(names), title="layout")
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _setup(inv: Inventory, path: Path, running: bool) -> str:
    hosts = {h for hosts in inv.groups.values() for h in hosts}
    where = (
        "every service co-hosted on one container host of this machine"
        if len(hosts) == 1 and host_dir(state_dir(), next(iter(hosts))).is_dir()
        else f"{len(hosts)} hosts, {len(inv.hosts('spark_worker'))} Spark worker(s)"
    )
    stream = "running" if running and stream_application(inv) else "stopped"
    return f"{where} (inventory {path.name}); the stream {stream}"


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    input_arguments(p)
    p.add_argument("--files", type=int, default=32, help="target file size: the data's / this")
    p.add_argument("--rebuild", action="store_true", help="build the layouts even if built")
    p.add_argument("--cold", type=int, default=3, help="cold runs of each query on each layout")
    p.add_argument("--warm", type=int, default=5, help="warm runs of each query on each layout")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "results" / "sorted-storage")
    p.add_argument("--keep-stream", action="store_true", help="leave the stream running")
    p.add_argument("-i", "--inventory", type=Path, default=LOCAL_INVENTORY)
    args = p.parse_args()
    if min(args.rows, args.files, args.cold + args.warm) < 1 or args.cold < 0 or args.warm < 0:
        p.error("--rows, --files and at least one of --cold/--warm must be positive")
    if args.seed < 0 or args.days <= 0:
        p.error("--seed must be 0 or more and --days more than 0")
    inv, started = load_inventory(args.inventory), time.monotonic()
    name = f"s{args.seed}d{args.days:g}r{args.rows}".replace(".", "_")  # a table name's part
    url = ensure_input(inv, args.seed, args.days, args.rows)
    # Stopped only if it runs, and started again only then.
    stop_stream = not args.keep_stream and stream_application(inv) is not None
    if stop_stream:
        sdp("stream", "stop", "-i", str(args.inventory))
    try:
        print("prepare: the four layouts", file=sys.stderr)
        spec = settings.platform("sdp_stream_spec")
        layouts = [d for _, d in run_job(inv, JOB, "sdp-e1-prepare", [
            "prepare", "--spec", spec, "--input", url, "--rows", str(args.rows),
            "--name", name, "--files", str(args.files),
            *(["--rebuild"] if args.rebuild else [])])]  # fmt: skip
        print("query: cold and warm runs", file=sys.stderr)
        runs = [d for _, d in run_job(inv, JOB, "sdp-e1-query", [
            "query", "--name", name, "--cold", str(args.cold), "--warm", str(args.warm),
            "--barrier", BARRIERS], _brief, lambda: drop_page_caches(inv))]  # fmt: skip
    finally:
        if stop_stream:
            sdp("stream", "start", "-i", str(args.inventory))
    summary = summarise(runs)
    meta = {
        "experiment": "E1 sorted storage",
        "hardware": hardware() + " (the control node)",
        "setup": _setup(inv, args.inventory, running=not stop_stream),
        "versions": {c: served.version(c) for c in ("spark", "iceberg", "minio")},
        "rows": args.rows, "seed": args.seed, "days": args.days, "files": args.files,
        "cold": args.cold, "warm": args.warm, "input": url, "tables": name,
        "command": " ".join(["python -m bench.sorted_storage", *sys.argv[1:]]),
        "bench_seconds": round(time.monotonic() - started),
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    document = {**meta, "layouts": layouts, "summary": summary, "runs": runs}
    (args.out / "results.json").write_text(json.dumps(document, indent=1, default=str) + "\n")
    (args.out / "results.md").write_text(markdown(summary, layouts, meta))
    plot(summary, args.out / "results.png", f"E1 sorted storage, {args.rows:,} events")
    print((args.out / "results.md").read_text())


if __name__ == "__main__":
    main()
