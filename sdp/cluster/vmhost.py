"""The machine that runs the cluster's VMs: libvirt answering on qemu:///system, a storage pool.

Where systemd is PID 1, its units start libvirtd. Elsewhere (this build machine, CI) the daemons
are started by hand, as systemd would: virtlogd (QEMU's console logs) and libvirtd.
"""

import grp
import os
import shutil
import subprocess
import time
from pathlib import Path

from sdp.processes import ServiceError

URI = "qemu:///system"
POOL = "default"  # vagrant-libvirt's default storage pool
POOL_DIR = Path("/var/lib/libvirt/images")
TOOLS = {"virsh": "libvirt-clients", "libvirtd": "libvirt-daemon-system", "vagrant": "vagrant"}


def _virsh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True)


def _systemd_is_pid1() -> bool:
    return Path("/run/systemd/system").is_dir()


def kvm_device(dev: Path = Path("/dev/kvm")) -> None:
    """/dev/kvm as udev would leave it (root:kvm 0660). Without udev it is root 0600, and libvirt
    then probes QEMU's capabilities again on every domain definition (measured: 80 s each)."""
    if not dev.exists():
        return
    try:
        kvm = grp.getgrnam("kvm").gr_gid
    except KeyError:
        return
    if dev.stat().st_gid != kvm or dev.stat().st_mode & 0o777 != 0o660:
        os.chown(dev, 0, kvm)
        dev.chmod(0o660)


def ensure_libvirt(timeout: float = 60) -> str:
    """libvirtd answering and the default pool active; returns the libvirt version line."""
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        raise ServiceError(
            f"missing Debian packages: {' '.join(missing)} "
            "(sdp artifacts host-deps --component vm-host --install)"
        )
    kvm_device()
    if _virsh("version").returncode != 0:
        if _systemd_is_pid1():
            subprocess.run(["systemctl", "start", "libvirtd"], check=True)
        else:
            for daemon in ("virtlogd", "libvirtd"):
                if subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode:
                    subprocess.run([daemon, "--daemon"], check=True)
        deadline = time.monotonic() + timeout
        while _virsh("version").returncode != 0:
            if time.monotonic() > deadline:
                raise ServiceError(f"libvirtd does not answer on {URI}: {_virsh('version').stderr}")
            time.sleep(1)
    if _virsh("pool-info", POOL).returncode != 0:
        POOL_DIR.mkdir(parents=True, exist_ok=True)
        for step in (
            ["pool-define-as", POOL, "dir", "--target", str(POOL_DIR)],
            ["pool-autostart", POOL],
        ):
            result = _virsh(*step)
            if result.returncode != 0:
                raise ServiceError(f"virsh {' '.join(step)}: {result.stderr.strip()}")
    if "running" not in _virsh("pool-info", POOL).stdout:
        _virsh("pool-start", POOL)
    return _virsh("version").stdout.strip().splitlines()[-1]
