"""Container hosts for machines whose PID 1 is not systemd: systemd-nspawn, one per spec entry.

Each host boots systemd as PID 1, runs sshd, and has its own address on a project bridge, so to
Ansible it is a separate machine. Root filesystems are overlays on one Debian base built with
mmdebstrap, so a host starts in about two seconds and costs only what it writes.
"""

import fcntl
import hashlib
import ipaddress
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from sdp.bundle.served import host_apt_packages
from sdp.platform.inventory import Inventory, InventoryError, load_inventory, ssh_options
from sdp.processes import ServiceError, port_open, read_pid, spawn, stop, tail, wait_until

# python3-apt: Ansible's apt module.
BASE_PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt", "iproute2",
    "ca-certificates", "sudo", "procps",
]  # fmt: skip
HOST_TOOLS = {
    "systemd-nspawn": "systemd-container",
    "mmdebstrap": "mmdebstrap",
    "ip": "iproute2",
    "apt-cacher-ng": "apt-cacher-ng",
}
APT_PROXY_PORT = 3142
ARTIFACT_PORT = 8765
DEFAULT_BRIDGE, DEFAULT_GATEWAY = "sdpbr0", "10.231.0.1/24"
DEBIAN_MIRROR = "http://deb.debian.org/debian/"
CONTROL_SERVICES = ("apt-proxy-", "artifacts-")  # pidfile prefixes of the control node's services


@dataclass(frozen=True)
class Host:
    name: str
    address: str


@dataclass(frozen=True)
class HostsSpec:
    bridge: str
    gateway: str  # the bridge's address, with prefix length: 10.231.0.1/24
    release: str
    hosts: list[Host]

    @property
    def prefix_len(self) -> int:
        return ipaddress.ip_interface(self.gateway).network.prefixlen


def parse_spec(raw: dict, source: str = "spec") -> HostsSpec:
    network = raw.get("network") or {}
    try:
        gateway = ipaddress.ip_interface(network.get("gateway", DEFAULT_GATEWAY))
    except ValueError:
        raise ServiceError(
            f"{source}: network.gateway must be ADDRESS/PREFIX, got {network.get('gateway')!r}"
        ) from None
    hosts = []
    for i, entry in enumerate(raw.get("hosts") or []):
        name, address = entry.get("name"), entry.get("address")
        if not name or not str(name).replace("-", "").isalnum():
            raise ServiceError(f"{source}: hosts[{i}].name {name!r} is not a host name")
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise ServiceError(
                f"{source}: hosts[{i}].address {address!r} is not an IP address"
            ) from None
        if ip not in gateway.network or ip == gateway.ip:
            raise ServiceError(
                f"{source}: hosts[{i}].address {ip} is not a free address in {gateway.network}"
            )
        hosts.append(Host(str(name), str(ip)))
    if not hosts:  # e.g. a cluster.yml topology given where its inventory was meant
        raise ServiceError(f"{source}: no hosts[] (a hosts spec or an Ansible inventory is needed)")
    names = [h.name for h in hosts]
    if len(set(names)) != len(names) or len({h.address for h in hosts}) != len(hosts):
        raise ServiceError(f"{source}: host names and addresses must be unique")
    return HostsSpec(
        bridge=str(network.get("bridge", DEFAULT_BRIDGE)),
        gateway=str(gateway),
        release=str(raw.get("release", "bookworm")),
        hosts=hosts,
    )


def spec_from_inventory(inventory: Inventory) -> dict:
    """A hosts spec from an Ansible inventory: every host it reaches over SSH at an ansible_host.

    The inventory stays the one place that says which hosts exist; `sdp_container_network`
    (bridge, gateway) in its vars overrides the default network.
    """
    hostvars = inventory.hostvars
    network = next(
        (v["sdp_container_network"] for v in hostvars.values() if "sdp_container_network" in v),
        {},
    )
    hosts = [
        {"name": name, "address": v["ansible_host"]}
        for name, v in sorted(hostvars.items())
        if v.get("ansible_connection", "ssh") == "ssh" and "ansible_host" in v
    ]
    if not hosts:
        raise ServiceError(f"{inventory.path}: no host has an ansible_host address")
    return {"network": network, "hosts": hosts}


# nspawn --keep-unit (no systemd on this machine to give it a scope) puts its container in the
# cgroup `payload` below the one it was started in. Started from one cgroup, every container got
# the same one, and their systemds shared each unit's group: one host's `systemctl kill` failed
# with EIO listing another's processes, a booting host failed to attach to a group another had
# just removed. Where this process sits at the root of the hierarchies systemd uses, each host
# starts from a cgroup of its own there.
CGROUP_MOUNTS = {
    "0": ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"),
    "name=systemd": ("/sys/fs/cgroup/systemd",),
}


def own_cgroups(name: str) -> list[Path]:
    """The host's own cgroup in each hierarchy systemd uses (created), or none if this process
    is not at their root (a machine whose systemd manages cgroups)."""
    lines = [line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines()]
    mine = {(hid if hid == "0" else ctrl): path for hid, ctrl, path in lines}
    groups = []
    for key, mounts in CGROUP_MOUNTS.items():
        if key not in mine:
            continue
        if mine[key] != "/":
            return []
        mount = next((Path(m) for m in mounts if (Path(m) / "cgroup.procs").exists()), None)
        if mount is not None:
            groups.append(mount / "sdp-hosts" / name)
    for group in groups:
        group.mkdir(parents=True, exist_ok=True)
    return groups


def load_spec(path: Path) -> HostsSpec:
    """A hosts spec file, or an Ansible inventory (file or directory) to take the hosts from."""
    raw = None if path.is_dir() else yaml.safe_load(path.read_text()) or {}
    if raw is not None and "all" not in raw:
        return parse_spec(raw, str(path))
    try:
        inventory = load_inventory(path)
    except InventoryError as exc:
        raise ServiceError(str(exc)) from None
    return parse_spec(spec_from_inventory(inventory), str(path))


def _run(cmd: list[str], what: str) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ServiceError(f"{what} failed ({' '.join(cmd)}):\n{result.stderr.strip()}")
    return result.stdout


def write_apt_proxy_conf(root: Path, control_node: str) -> None:
    """apt on a host goes through the control node's apt-cacher-ng. No pipelining, a read
    timeout and retries: seven hosts refreshing the same indexes at once through a freshly
    started apt-cacher-ng left one apt-get waiting forever on a pipelined connection the proxy
    had closed (measured)."""
    (root / "etc" / "apt" / "apt.conf.d" / "01sdp-proxy").write_text(
        f'Acquire::http::Proxy "http://{control_node}:{APT_PROXY_PORT}";\n'
        'Acquire::http::Pipeline-Depth "0";\n'
        'Acquire::http::Timeout "30";\n'
        'Acquire::Retries "3";\n'
    )


def state_dir() -> Path:
    """SDP_HOSTS_DIR: base image, overlays, the project's SSH key, logs. The one default: the
    inventories ask for the key with lookup('sdp', 'ssh_key')."""
    return Path(os.environ.get("SDP_HOSTS_DIR", "/var/lib/sdp-hosts"))


def host_dir(state: Path, name: str) -> Path:
    """A container host's directory (its overlay layers and root); it exists once the host was
    made on this machine."""
    return state / "hosts" / name


def ssh_key_path(state: Path) -> Path:
    return state / "ssh" / "id_ed25519"


def ensure_ssh_key(key: Path) -> None:
    """The project's SSH key (container hosts and VM images trust it), created once."""
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        _run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sdp-hosts", "-f", str(key)],
            "creating the SSH key",
        )


class ContainerHosts:
    def __init__(self, spec: HostsSpec, state_dir: Path):
        self.spec, self.dir = spec, state_dir

    @property
    def key(self) -> Path:
        return ssh_key_path(self.dir)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One `sdp hosts` at a time changes the state directory: specs booted or stopped at once
        (molecule scenarios run two at a time) would build the base twice, or stop the apt proxy
        and artifact server between another's start of them and its hosts' boot."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / "hosts.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def check_tools(self) -> None:
        if os.geteuid() != 0:
            raise ServiceError(
                "container hosts need root (systemd-nspawn, bridges, overlay mounts)"
            )
        missing = [pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None]
        if missing:
            raise ServiceError(
                f"missing Debian packages: {' '.join(missing)} (apt-get install them)"
            )

    def base(self) -> Path:
        """The shared, read-only lower layer, built once per package list: a minimal Debian with
        systemd and sshd, plus every package the roles install (a golden image: the roles find
        them installed and skip apt, which took minutes per host and per test scenario). Their
        services are left disabled, as on a host the roles have not configured."""
        golden = host_apt_packages()
        # Installed after the base, so that the units they enable can be told apart and disabled.
        golden_hook = f"""
            set -e
            enabled() {{ systemctl --root="$1" list-unit-files --state=enabled --no-legend \\
                         | cut -d' ' -f1 | sort; }}
            enabled "$1" > "$1/tmp/base-units"
            chroot "$1" apt-get install --yes --no-install-recommends {" ".join(golden)}
            enabled "$1" | comm -13 "$1/tmp/base-units" - \\
                | xargs --no-run-if-empty systemctl --root="$1" disable --quiet
            rm "$1/tmp/base-units"
        """
        recipe = " ".join([*BASE_PACKAGES, golden_hook])
        base = (
            self.dir
            / f"base-{self.spec.release}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"
        )
        if (base / "etc" / "os-release").exists():
            return base
        tarball = self.dir / f"{base.name}.tar"
        _run(
            [
                "mmdebstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                f"--customize-hook={golden_hook}",
                self.spec.release,
                str(tarball),
            ],
            "building the base root filesystem",
        )
        partial = base.with_name(base.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        _run(["tar", "-xf", str(tarball), "-C", str(partial)], "unpacking the base root filesystem")
        tarball.unlink()
        partial.rename(base)
        for unused in unused_bases(self.dir, keep=base):
            shutil.rmtree(unused)
        return base

    def bridge(self) -> None:
        if (
            subprocess.run(["ip", "link", "show", self.spec.bridge], capture_output=True).returncode
            != 0
        ):
            _run(["ip", "link", "add", self.spec.bridge, "type", "bridge"], "creating the bridge")
        addresses = _run(["ip", "-br", "addr", "show", self.spec.bridge], "reading the bridge")
        if self.spec.gateway not in addresses.split():
            _run(
                ["ip", "addr", "add", self.spec.gateway, "dev", self.spec.bridge],
                "addressing the bridge",
            )
        _run(["ip", "link", "set", self.spec.bridge, "up"], "raising the bridge")

    @property
    def gateway_ip(self) -> str:
        return str(ipaddress.ip_interface(self.spec.gateway).ip)

    def service_pidfile(self, service: str) -> Path:
        """One instance of each control-node service per network: it binds the bridge address
        only (an open apt proxy on every interface would serve the LAN too)."""
        return self.dir / "run" / f"{service}-{self.gateway_ip}.pid"

    def apt_proxy(self) -> None:
        """apt-cacher-ng on the bridge address: the hosts have no route out, apt goes through it."""
        state = self.dir / "apt-proxy" / self.gateway_ip
        pidfile = self.service_pidfile("apt-proxy")
        if read_pid(pidfile) is not None:
            return
        log = self.dir / "logs" / f"{pidfile.stem}.log"
        conf = state / "conf"
        shutil.rmtree(conf, ignore_errors=True)
        shutil.copytree("/etc/apt-cacher-ng", conf)
        # Debian's package leaves backends_debian empty; without a mirror it cannot fetch.
        (conf / "backends_debian").write_text(DEBIAN_MIRROR + "\n")
        for sub in ("cache", "log"):
            (state / sub).mkdir(parents=True, exist_ok=True)
        pid = spawn(
            [
                "apt-cacher-ng",
                "-c",
                str(conf),
                "ForeGround=1",
                f"BindAddress={self.gateway_ip}",
                f"Port={APT_PROXY_PORT}",
                f"CacheDir={state / 'cache'}",
                f"LogDir={state / 'log'}",
                f"PidFile={state / 'pid'}",
                f"SocketPath={state / 'socket'}",
            ],
            pidfile,
            log,
        )
        wait_until(
            lambda: port_open(APT_PROXY_PORT, self.gateway_ip), 20, "apt-cacher-ng", log, pid
        )

    def artifact_server(self) -> None:
        """The bundle over HTTP on the bridge address: the hosts install every artifact from it."""
        pidfile = self.service_pidfile("artifacts")
        if read_pid(pidfile) is not None:
            return
        log = self.dir / "logs" / f"{pidfile.stem}.log"
        pid = spawn(
            [sys.executable, "-m", "sdp.cli", "artifacts", "serve", "--bind", self.gateway_ip,
             "--port", str(ARTIFACT_PORT)],
            pidfile,
            log,
        )  # fmt: skip
        wait_until(
            lambda: port_open(ARTIFACT_PORT, self.gateway_ip), 20, "artifact server", log, pid
        )

    def serve(self) -> None:
        """The control node's side of the air gap on this network: apt proxy, artifact server."""
        self.apt_proxy()
        self.artifact_server()

    def running(self, gateway: str | None = None) -> list[str]:
        """Names of every host booted from this state directory, from any spec; with a
        gateway, only the hosts on that network."""
        names = []
        for pidfile in (self.dir / "run").glob("*.pid"):
            if pidfile.stem.startswith(CONTROL_SERVICES) or read_pid(pidfile) is None:
                continue
            network = pidfile.with_suffix(".gateway")
            if gateway and network.exists() and network.read_text().strip() != gateway:
                continue
            names.append(pidfile.stem)
        return sorted(names)

    def root(self, host: Host) -> Path:
        return host_dir(self.dir, host.name) / "root"

    def mount(self, host: Host, base: Path) -> Path:
        layer = host_dir(self.dir, host.name)
        root = layer / "root"
        for sub in ("upper", "work", "root"):
            (layer / sub).mkdir(parents=True, exist_ok=True)
        # A host keeps the base it was made on: its upper layer holds changes to that one.
        lower = layer / "lower"
        if lower.exists() and Path(lower.read_text().strip()).is_dir():
            base = Path(lower.read_text().strip())
        else:
            lower.write_text(f"{base}\n")
        if not os.path.ismount(root):
            _run(
                [
                    "mount",
                    "-t",
                    "overlay",
                    "overlay",
                    "-o",
                    f"lowerdir={base},upperdir={layer / 'upper'},workdir={layer / 'work'}",
                    str(root),
                ],
                f"mounting {host.name}'s root filesystem",
            )
        return root

    def configure(self, host: Host, root: Path) -> None:
        (root / "etc" / "hostname").write_text(host.name + "\n")
        hosts = root / "etc" / "hosts"
        if not hosts.exists():  # minbase has none; real machines resolve localhost from it
            hosts.write_text(
                f"127.0.0.1 localhost\n127.0.1.1 {host.name}\n::1 localhost ip6-localhost\n"
            )
        network = root / "etc" / "systemd" / "network"
        network.mkdir(parents=True, exist_ok=True)
        gateway = self.gateway_ip
        # 10- sorts before systemd's own 80-container-host0.network (DHCP), so ours applies.
        (network / "10-host0.network").write_text(
            f"[Match]\nName=host0\n[Network]\nAddress={host.address}/{self.spec.prefix_len}\n"
            f"Gateway={gateway}\n"
        )
        wants = root / "etc" / "systemd" / "system" / "multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        link = wants / "systemd-networkd.service"
        if not link.is_symlink():
            link.symlink_to("/lib/systemd/system/systemd-networkd.service")
        write_apt_proxy_conf(root, self.gateway_ip)
        ssh = root / "root" / ".ssh"
        ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
        (ssh / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())

    def pidfile(self, host: Host) -> Path:
        return self.dir / "run" / f"{host.name}.pid"

    def up(self, timeout: float = 60.0) -> list[Host]:
        self.check_tools()
        started = []
        with self._exclusive():
            ensure_ssh_key(self.key)
            base = self.base()
            self.bridge()
            self.serve()
            for host in self.spec.hosts:
                if read_pid(self.pidfile(host)) is not None:
                    continue
                root = self.mount(host, base)
                self.configure(host, root)
                spawn(
                    [
                        "systemd-nspawn",
                        "-D",
                        str(root),
                        "--boot",
                        "--register=no",
                        "--keep-unit",
                        f"--network-bridge={self.spec.bridge}",
                        f"--machine={host.name}",
                        "--console=passive",
                    ],
                    self.pidfile(host),
                    self.dir / "logs" / f"{host.name}.log",
                    cgroups=own_cgroups(host.name),
                )
                self.pidfile(host).with_suffix(".gateway").write_text(self.gateway_ip + "\n")
                started.append(host)
        deadline = time.monotonic() + timeout  # one budget for all: the hosts boot in parallel
        for host in self.spec.hosts:
            log = self.dir / "logs" / f"{host.name}.log"
            pid = read_pid(self.pidfile(host))
            if pid is None:
                raise ServiceError(
                    f"host {host.name} stopped while booting; last lines of {log}:\n{tail(log)}"
                )
            wait_until(
                lambda h=host: port_open(22, h.address),
                max(deadline - time.monotonic(), 0.0),
                f"host {host.name} ({host.address}) sshd",
                log,
                pid,
            )
        return started

    def _named(self, only: list[str] | None) -> list[Host]:
        """The spec's hosts, or those of them `only` names (ServiceError naming any other)."""
        if only is None:
            return self.spec.hosts
        unknown = sorted(set(only) - {h.name for h in self.spec.hosts})
        if unknown:
            raise ServiceError(f"{', '.join(unknown)}: not hosts of this spec")
        return [h for h in self.spec.hosts if h.name in only]

    def down(self, only: list[str] | None = None) -> list[str]:
        hosts = self._named(only)
        with self._exclusive():
            # All at once: each host's services take their time to stop (the 8 hosts of the
            # cluster suite took 88 s one after another).
            with ThreadPoolExecutor(max(len(hosts), 1)) as pool:
                ran = list(pool.map(lambda h: stop(self.pidfile(h), grace=30), hosts))
            stopped = [h.name for h, was in zip(hosts, ran, strict=True) if was]
            for host in hosts:
                self.pidfile(host).with_suffix(".gateway").unlink(missing_ok=True)
                root = self.root(host)
                if os.path.ismount(root):
                    _run(["umount", str(root)], f"unmounting {host.name}")
            # This network's proxy and server only, once no host on it runs: other networks
            # (VMs, other specs) keep theirs.
            if not self.running(self.gateway_ip):
                for service in ("apt-proxy", "artifacts"):
                    stop(self.service_pidfile(service))
        return stopped

    def destroy(self, only: list[str] | None = None) -> None:
        """Stop the hosts (or those `only` names) and delete what they wrote; the base image is
        kept."""
        self.down(only)
        for host in self._named(only):
            shutil.rmtree(host_dir(self.dir, host.name), ignore_errors=True)

    def ssh_args(self, host: Host) -> list[str]:
        return ssh_command(self.key, host.address)


def unused_bases(state: Path, keep: Path) -> list[Path]:
    """Bases of earlier package lists that no host was made on (about 1.1 GB each)."""
    used = {Path(f.read_text().strip()) for f in state.glob("hosts/*/lower")}
    return sorted(b for b in state.glob("base-*") if b.is_dir() and b != keep and b not in used)


def ssh_command(key: Path, address: str) -> list[str]:
    """ssh to root@address with the project's key and the options Ansible uses."""
    return ["ssh", "-i", str(key), *ssh_options(), "-o", "ConnectTimeout=5", f"root@{address}"]
