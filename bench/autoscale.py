"""Experiment E3, scale-out driven by traffic: the generator's day with a x10 sale, and
`sdp platform autoscale` adding Spark workers while the stream falls behind and removing them once
it has caught up.

    python -m bench.autoscale               # about 35 minutes, the platform's start included
    python -m bench.autoscale --rate 100 --calm 1 --sale 4 --after 3 --out /tmp/e3

The cluster: the `autoscale` profile of cluster.yml (every service on one container host, the
stream on with every core; one-core workers), copied to `--work` with its inventory, started with
`--min` workers unless it runs already.

1. The controller starts (`sdp platform autoscale`, its readings in `--out`/autoscale.jsonl).
2. The generator plays the daily curve at `--speed` for `--calm` minutes, then the sale (x10) for
   `--sale` minutes, then `--after` minutes of normal traffic again.
3. The controller runs on until it is back at `--min` workers (at most `--settle` minutes).
4. `sdp stream reconcile`: every record the generator sent is in bronze or the dead letters,
   exactly once; anything else is an error.

Results in `--out`: results.json (the controller's changes and why, reaction times, the
reconciliation, the series), results.md and results.png (traffic, workers, processing delay,
backlog and CPU, from Prometheus, as the scaling dashboard shows them); the controller's and the
generator's output in `--work`. The cluster is left running (`--destroy` removes it).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.experiment import cluster_arguments
from bench.scaling import platform_with
from bench.stream_pipeline import hardware, sdp
from sdp.cluster.spec_copy import SpecCopy
from sdp.dashboards.grafana import scaling_series
from sdp.platform import settings
from sdp.platform.autoscale import Policy
from sdp.platform.checks import kafka_bootstrap, kafka_login_env, prometheus_api
from sdp.platform.inventory import Inventory
from sdp.processes import SDP

STEP = 15  # seconds between the plotted points: the scrape interval's multiple


def policy_arguments(p: argparse.ArgumentParser) -> None:
    defaults = Policy()
    p.add_argument("--min", type=int, default=defaults.min_workers, help="fewest workers")
    p.add_argument("--max", type=int, default=3, help="most workers")
    for name, what in [("behind_high", "seconds of traffic waiting: overload"),
                       ("behind_low", "seconds of traffic waiting: idle"),
                       ("worker_rate", "records/s one worker keeps up with"),
                       ("sustain", "seconds over --behind-high to add a worker"),
                       ("idle", "seconds under --behind-low to remove one"),
                       ("cooldown", "seconds between changes")]:  # fmt: skip
        flag = "--" + name.replace("_", "-")
        p.add_argument(flag, type=float, default=getattr(defaults, name), help=what)


def controller_command(args, log: Path) -> list[str]:
    return [SDP, "platform", "autoscale", "--profile", args.profile, "--pool", args.pool,
            "--spec", str(args.spec), "--work", str(args.work), "--min", str(args.min),
            "--max", str(args.max), "--behind-high", str(args.behind_high), "--behind-low",
            str(args.behind_low), "--worker-rate", str(args.worker_rate),
            "--sustain", str(args.sustain), "--idle", str(args.idle),
            "--cooldown", str(args.cooldown), "--interval", str(args.interval),
            "--log", str(log)]  # fmt: skip


def events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def traffic(inv: Inventory, args, logs: Path) -> dict:
    """The generator's calm, sale and calm phases; Unix times of each phase's start and end."""
    flag = Path(tempfile.mkdtemp(prefix="sdp-e3-")) / "sale"
    seconds = 60 * (args.calm + args.sale + args.after)
    with (logs / "generator.log").open("w") as glog:
        generator = subprocess.Popen(
            [SDP, "generate", "--bootstrap", kafka_bootstrap(inv), "--rate", str(args.rate),
             "--speed", str(args.speed), "--duration", str(seconds), "--seed", str(args.seed),
             "--sale-flag", str(flag)],
            env={**os.environ, **kafka_login_env(inv)}, stdout=glog, stderr=subprocess.STDOUT,
        )  # fmt: skip
        times = {"start": time.time()}
        for phase, minutes in (("sale", args.calm), ("after", args.calm + args.sale)):
            try:
                generator.wait(max(times["start"] + 60 * minutes - time.time(), 0))
                sys.exit(f"the generator stopped early ({generator.returncode}); see {glog.name}")
            except subprocess.TimeoutExpired:
                pass
            times[phase] = time.time()
            if phase == "sale":
                flag.touch()
            else:
                flag.unlink()
            print(f"{datetime.now():%H:%M:%S} {phase}", file=sys.stderr)
        if generator.wait() != 0:
            sys.exit(f"the generator exited {generator.returncode}; see {glog.name}")
        times["end"] = time.time()
    return times


def settle(log: Path, minimum: int, since: float, minutes: float) -> bool:
    """Wait until the controller reads `minimum` workers after `since`: True, or False at the
    end of `minutes`."""
    deadline = time.time() + 60 * minutes
    while time.time() < deadline:
        readings = [e for e in events(log) if e["event"] == "reading" and e["at"] > since]
        if readings and readings[-1]["workers"] == minimum:
            return True
        time.sleep(15)
    return False


def series(inv: Inventory, start: float, end: float) -> list[dict]:
    """Each of the scaling board's graphs over the run, from Prometheus (1-minute rates)."""
    graphs = []
    for title, unit, queries in scaling_series("1m"):
        lines = []
        for expr, legend in queries:
            data = prometheus_api(inv, "query_range", query=expr, start=str(start),
                                  end=str(end), step=str(STEP))  # fmt: skip
            for r in data["result"]:
                name = legend.replace("{{instance}}", r["metric"].get("instance", ""))
                lines.append({"legend": name, "points": [[float(t), float(v)]
                                                         for t, v in r["values"]]})  # fmt: skip
        graphs.append({"title": title, "unit": unit, "lines": lines})
    return graphs


def reaction(evts: list[dict], times: dict, behind_high: float) -> dict:
    """Seconds from the stream first over --behind-high behind to the first scale-out's decision
    and to its worker configured; from the end of traffic to the last scale-in's end."""
    readings = [e for e in evts if e["event"] == "reading"]
    scaled = [e for e in evts if e["event"] == "scaled"]
    outs = [e for e in scaled if e["change"] > 0]
    over = next((r["at"] for r in readings if (r["behind"] or 0) > behind_high), None)
    result: dict = {"over_behind_high_at": over}
    if over is not None and outs:
        result["decision_s"] = round(outs[0]["started"] - over)
        result["worker_added_s"] = round(outs[0]["at"] - over)
    ins = [e for e in scaled if e["at"] > times["end"]]
    if ins:
        result["back_to_min_after_traffic_s"] = round(ins[-1]["at"] - times["end"])
    return result


def plot(graphs: list[dict], evts: list[dict], times: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    readings = [e for e in evts if e["event"] == "reading" and e["behind"] is not None]
    policy = next(e["policy"] for e in evts if e["event"] == "start")
    points = [[r["at"], r["behind"]] for r in readings]
    behind = {"title": "What the controller reads: seconds of traffic waiting (lag / rate)",
              "unit": "s", "lines": [{"legend": "behind", "points": points}]}  # fmt: skip
    shown = [g for g in graphs if not g["title"].startswith("Memory")]
    shown.insert(len(shown) - 1, behind)
    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 2.1 * len(shown)), sharex=True)
    t0 = times["start"]
    for name in ("behind_high", "behind_low"):
        axes[len(shown) - 2].axhline(policy[name], color="grey", linestyle=":", linewidth=1)
    axes[len(shown) - 2].set_yscale("symlog", linthresh=10)  # the thresholds and the peak
    for ax, g in zip(axes, shown, strict=True):
        for line in g["lines"]:
            xs = [(t - t0) / 60 for t, _ in line["points"]]
            ax.plot(xs, [v for _, v in line["points"]], label=line["legend"], linewidth=1.2)
        ax.axvspan((times["sale"] - t0) / 60, (times["after"] - t0) / 60, color="orange",
                   alpha=0.15, label="sale x10")  # fmt: skip
        for e in evts:
            if e["event"] == "scaled":
                ax.axvspan((e["started"] - t0) / 60, (e["at"] - t0) / 60, alpha=0.15,
                           color="green" if e["change"] > 0 else "red")  # fmt: skip
        ax.set_ylabel(g["unit"])
        ax.set_title(g["title"], fontsize=9, loc="left")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1].set_xlabel("minutes since the generator started (green: a worker being added, "
                        "red: removed; no readings meanwhile)")  # fmt: skip
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(result: dict) -> str:
    a, r = result["arguments"], result["reaction"]
    lines = [
        "# E3 scale-out driven by traffic",
        "",
        f"{result['hardware']}. Command: `{result['command']}` ({result['bench_seconds']} s, "
        f"the platform's start {result['platform_up_s']:.0f} s of it).",
        f"Traffic: `sdp generate --rate {a['rate']} --speed {a['speed']}`, {a['calm']} min "
        f"normal, {a['sale']} min sale (x10), {a['after']} min normal. Controller: "
        + ", ".join(f"{k} {v}" for k, v in result["policy"].items())
        + f", a reading every {a['interval']} s.",
        "",
        "| when (min) | change | hosts | why | took s |",
        "| --- | --- | --- | --- | --- |",
    ]
    t0 = result["times"]["start"]
    for c in result["changes"]:
        lines.append(f"| {(c['started'] - t0) / 60:.1f} | to {c['to']} | {', '.join(c['hosts'])} "
                     f"| {c['why']} | {c['at'] - c['started']:.0f} |")  # fmt: skip
    lines += ["", f"Reaction: {json.dumps(r)}.", "",
              "Reconciliation (`sdp stream reconcile --since` the start):", "",
              "| topic | in Kafka | bronze | dead letters | missing | duplicates |",
              "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for t in (t for t in result["reconcile"]["topics"] if t["in_kafka"]):
        lines.append(f"| {t['topic']} | {t['in_kafka']:,} | {t['bronze']:,} | "
                     f"{t['dead_letter']:,} | {t['missing']} | {t['duplicates']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    p.add_argument("--rate", type=float, default=250, help="sdp generate --rate (the day's mean)")
    p.add_argument("--speed", type=float, default=3, help="simulated seconds per second")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--calm", type=float, default=2, help="minutes before the sale")
    p.add_argument("--sale", type=float, default=5, help="minutes of the sale (x10)")
    p.add_argument("--after", type=float, default=8, help="minutes after it")
    p.add_argument("--settle", type=float, default=15, help="most minutes to wait for --min")
    p.add_argument("--interval", type=float, default=15, help="seconds between readings")
    policy_arguments(p)
    cluster_arguments(p, "autoscale", "autoscale", "sdp-auto-worker")
    args = p.parse_args()
    policy = Policy(args.min, args.max, args.behind_high, args.behind_low, args.worker_rate,
                    args.sustain, args.idle, args.cooldown)  # fmt: skip
    if policy.problems():
        p.error("; ".join(policy.problems()))
    ahead = (args.calm + args.sale + args.after) * (args.speed - 1)  # simulated minutes
    if ahead >= settings.role("spark", "spark_stream_future_minutes"):
        p.error(
            f"the run ends {ahead:.0f} simulated minutes ahead of the clock, more than the "
            "stream takes (spark_stream_future_minutes): lower --speed or the minutes"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "autoscale.jsonl"
    log.unlink(missing_ok=True)
    began = time.monotonic()
    cluster = SpecCopy(args.spec, args.profile, args.pool, args.work)
    inv, up_s = platform_with(cluster, args.min)
    with (args.work / "controller.log").open("w") as clog:
        controller = subprocess.Popen(controller_command(args, log), stdout=clog, stderr=clog)
        try:
            times = traffic(inv, args, args.work)
            settled = settle(log, args.min, times["end"], args.settle)
        finally:
            controller.terminate()
            controller.wait(120)
    since = datetime.fromtimestamp(times["start"], UTC).isoformat()
    audit = subprocess.run([SDP, "stream", "reconcile", "-i", str(cluster.inventory_dir),
                            "--wait", "600", "--since", since, "--json"],
                           capture_output=True, text=True)  # fmt: skip
    if audit.returncode != 0 or not audit.stdout:
        sys.exit(f"sdp stream reconcile exited {audit.returncode}:\n{audit.stdout[-3000:]}"
                 f"{audit.stderr[-2000:]}")  # fmt: skip
    evts = events(log)
    changes = [e for e in evts if e["event"] == "scaled"]
    result = {
        "command": " ".join(["python -m bench.autoscale", *sys.argv[1:]]),
        "hardware": hardware(),
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "policy": {k: getattr(policy, k) for k in policy.__dataclass_fields__},
        "platform_up_s": up_s,
        "times": times,
        "settled": settled,
        "changes": changes,
        "reaction": reaction(evts, times, args.behind_high),
        "reconcile": json.loads(audit.stdout),
        "series": series(inv, times["start"], time.time()),
        "bench_seconds": round(time.monotonic() - began),
    }
    (args.out / "results.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    (args.out / "results.md").write_text(markdown(result))
    plot(result["series"], evts, times, args.out / "results.png",
         f"E3: {args.pool} workers following the stream's backlog")  # fmt: skip
    print((args.out / "results.md").read_text())
    if not settled:
        sys.exit(f"the controller was not back at {args.min} worker(s) {args.settle} min after "
                 "the traffic ended")  # fmt: skip
    if args.destroy:
        sdp("hosts", "destroy", str(cluster.inventory_dir))


if __name__ == "__main__":
    main()
