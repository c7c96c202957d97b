"""Starting and stopping long-running processes with pid files, logs and readiness probes."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


class ServiceError(RuntimeError):
    """A service did not start or is not healthy; the message names it and its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); waitpid reaps it when it is ours.
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def started_at(pid: int) -> float | None:
    """When the process started (epoch seconds): /proc/PID/stat's start time after boot."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration):
        return None
    # Fields after the command name, which may hold spaces; starttime is field 22 of stat(5).
    ticks = int(stat.rpartition(")")[2].split()[19])
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def read_pid(pidfile: Path) -> int | None:
    """The pid the file records if that process still runs. A live pid that started after the
    file was written is another process that reused the number (pids wrap at 32768 here, and a
    killed session leaves its pidfiles behind), not the one recorded."""
    try:
        pid = int(pidfile.read_text().strip())
        written = pidfile.stat().st_mtime
    except (FileNotFoundError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    started = started_at(pid)
    # btime is whole seconds and the wall clock may be stepped: 2 s of slack.
    return None if started is not None and started > written + 2 else pid


def spawn(
    cmd: list[str],
    pidfile: Path,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    cgroups: list[Path] | None = None,
) -> int:
    """Start cmd in its own session (so stop() can signal the whole group), and in `cgroups`
    (directories of cgroup hierarchies) if given; record its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)

    def join_cgroups() -> None:  # in the child, before it runs cmd
        for group in cgroups or []:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
            preexec_fn=join_cgroups if cgroups else None,
        )
    pidfile.write_text(str(proc.pid))
    return proc.pid


def wait_until(
    probe: Callable[[], bool], timeout: float, what: str, log: Path, pid: int | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not probe():  # probed at least once, so a spent budget still accepts a ready service
        if pid is not None and not pid_alive(pid):
            raise ServiceError(f"{what} exited during start-up; last lines of {log}:\n{tail(log)}")
        if time.monotonic() >= deadline:
            raise ServiceError(
                f"{what} not ready after {timeout:.0f} s; last lines of {log}:\n{tail(log)}"
            )
        time.sleep(0.3)


def stop(pidfile: Path, sig: int = signal.SIGTERM, grace: float = 20.0) -> bool:
    """Signal the process group, SIGKILL after the grace period; True if something was running."""
    pid = read_pid(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    deadline = time.monotonic() + grace
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return True


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


SDP = str(Path(sys.executable).with_name("sdp"))


def sdp_cli(*args: str, show: bool = False) -> str:
    """`sdp ARGS`' standard output, run as its own process; ServiceError naming the command if it
    fails. `show`: its output (stderr merged) goes to this one's stderr as it runs, for long
    playbooks."""
    if not show:
        result = subprocess.run([SDP, *args], capture_output=True, text=True)
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-2000:]
            raise ServiceError(f"sdp {' '.join(args)} failed:\n{output}")
        return result.stdout
    lines = []
    with subprocess.Popen([SDP, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:  # fmt: skip
        for line in proc.stdout:
            print(line, end="", file=sys.stderr)
            lines.append(line)
    if proc.returncode != 0:
        raise ServiceError(f"sdp {' '.join(args)} failed ({proc.returncode}): see its output above")
    return "".join(lines)
