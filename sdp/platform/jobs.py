"""Spark jobs of the deployed code (jobs/ under sdp_app_dir) run by hand on the master host, in
client mode as the daily DAG and the stream run theirs: one command line for all of them."""

import re
import shlex
from collections.abc import Sequence

from sdp.platform import settings


def spark_submit(
    script: str, name: str, args: Sequence[str] = (), conf: dict[str, str] | None = None
) -> str:
    """The shell command, for the spark user on a Spark host, that submits `script` (a path
    under jobs/, or an absolute one) with the host's Spark configuration, `conf` over it."""
    names = ("spark_home", "spark_conf_dir", "sdp_app_dir")
    home, conf_dir, app = (settings.platform(n) for n in names)
    path = script if script.startswith("/") else f"{app}/{script}"
    confs = [f"--conf {shlex.quote(f'{k}={v}')} " for k, v in (conf or {}).items()]
    return (
        f"env SPARK_CONF_DIR={conf_dir} PYTHONPATH={app} TZ=UTC {home}/bin/spark-submit "
        f"--name {shlex.quote(name)} {''.join(confs)}{path} {shlex.join(args)}"
    )


def job_error(output: list[str]) -> str:
    """What a failed spark-submit of a Python job says went wrong: its usage error, or the
    exception its traceback ends with (not the JVM's stack traces and logs around it)."""
    usage = [ln for ln in output if re.match(r"\S+: error: ", ln)]
    frames = [i for i, ln in enumerate(output) if ln.startswith('  File "')]
    if frames:
        after = [ln for ln in output[frames[-1] + 1 :] if ln and not ln[0].isspace()]
        if after and after[0].startswith("py4j.protocol.Py4JJavaError") and len(after) > 1:
            return f"{after[0]} {after[1].removeprefix(': ')}"  # the JVM's exception follows
        if after:
            return after[0]
    return usage[-1] if usage else "\n".join(output[-40:])
