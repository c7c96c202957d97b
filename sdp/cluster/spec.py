"""The cluster spec (cluster.yml): load one profile, check it, derive its hosts.

Every error names the field it is about (`cluster.yml: profiles.small.pools[0].address: ...`),
so a typo in the spec is found here, before Terraform, Vagrant or Ansible trip over it.
Terraform derives the same hosts in HCL (terraform/spec/); tests/cluster keeps the two equal.
"""

import ipaddress
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from sdp.paths import REPO_ROOT

CLUSTER_FILE = REPO_ROOT / "cluster.yml"
GROUPS = (
    "kafka_controller", "kafka_broker", "minio", "postgres",
    "spark_master", "spark_worker", "airflow", "monitoring", "superset",
)  # fmt: skip
KAFKA_GROUPS = ("kafka_controller", "kafka_broker")
# Fewest and most hosts per group (None: no limit), as the roles' preflight checks demand.
GROUP_SIZES = {
    "kafka_controller": (1, None), "kafka_broker": (1, None), "minio": (1, None),
    "postgres": (1, 1), "spark_master": (1, 1), "airflow": (0, 1), "monitoring": (0, 1),
    "superset": (0, 1),
}  # fmt: skip
# Host numbers 0 (the network) and 1 (the control node: bridge, artifact server, apt proxy).
RESERVED_HOST_NUMBERS = 2
# Variables the spec derives; setting them by hand would break the derivation's guarantees.
DERIVED_VARS = ("ansible_host", "kafka_node_id")
NAME = re.compile(r"^[a-z][a-z0-9-]*$")


class SpecError(ValueError):
    pass


@dataclass(frozen=True)
class Size:
    vcpu: int
    memory: int  # MiB
    disk: int  # GiB


@dataclass(frozen=True)
class Host:
    name: str
    number: int  # its host number in the network; also its Kafka node id
    address: str
    size: Size
    groups: tuple[str, ...]
    vars: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Network:
    name: str
    bridge: str
    cidr: str

    @property
    def address(self) -> str:
        """The control node on the network: the first address."""
        return str(ipaddress.ip_network(self.cidr)[1])

    @property
    def gateway(self) -> str:
        """The control node's address on the network, with the prefix length: 10.232.0.1/24."""
        return f"{self.address}/{ipaddress.ip_network(self.cidr).prefixlen}"

    @property
    def netmask(self) -> str:
        return str(ipaddress.ip_network(self.cidr).netmask)


@dataclass(frozen=True)
class Cluster:
    name: str  # sdp_cluster_name: the spec's name and the profile, e.g. sdp-small
    profile: str
    network: Network
    image: str
    vars: dict
    hosts: tuple[Host, ...]

    def group(self, group: str) -> list[Host]:
        return [h for h in self.hosts if group in h.groups]


class _Checker:
    """Reads fields of the raw YAML; every failure names the field's path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, message: str) -> SpecError:
        return SpecError(f"{self.source}: {path}: {message}")

    def get(self, node: dict, key: str, path: str, kind: type, default=None):
        where = _where(path, key)
        value = node.get(key, default)
        if value is None:
            raise self.fail(where, "missing")
        # bool is an int in Python; a count of `true` is a typo, not 1.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(where, f"must be {_kind_name(kind)}, got {value!r}")
        return value

    def name(self, node: dict, key: str, path: str) -> str:
        value = self.get(node, key, path, str)
        if not NAME.match(value):
            message = f"{value!r}: lower-case letters, digits and dashes, from a letter"
            raise self.fail(_where(path, key), message)
        return value

    def positive(self, node: dict, key: str, path: str, minimum: int = 1) -> int:
        value = self.get(node, key, path, int)
        if value < minimum:
            raise self.fail(_where(path, key), f"must be at least {minimum}, got {value}")
        return value


def _where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind_name(kind: type) -> str:
    return {int: "an integer", str: "a string", dict: "a mapping", list: "a list"}[kind]


def _network(c: _Checker, raw: dict) -> Network:
    node = c.get(raw, "network", "", dict)
    cidr = c.get(node, "cidr", "network", str)
    try:
        net = ipaddress.IPv4Network(cidr)
    except ValueError:
        raise c.fail(
            "network.cidr", f"{cidr!r} is not an IPv4 network like 10.232.0.0/24"
        ) from None
    bridge = c.name(node, "bridge", "network")
    if len(bridge) > 15:  # Linux interface names
        raise c.fail("network.bridge", f"{bridge!r} is longer than 15 characters")
    return Network(name=c.name(node, "name", "network"), bridge=bridge, cidr=str(net))


def _sizes(c: _Checker, raw: dict) -> dict[str, Size]:
    sizes = {}
    for name, node in c.get(raw, "sizes", "", dict).items():
        path = f"sizes.{name}"
        if not isinstance(node, dict):
            raise c.fail(path, "must be a mapping of vcpu, memory (MiB), disk (GiB)")
        sizes[name] = Size(
            vcpu=c.positive(node, "vcpu", path),
            memory=c.positive(node, "memory", path, minimum=512),
            disk=c.positive(node, "disk", path, minimum=4),
        )
    return sizes


def _groups(c: _Checker, node: dict, path: str) -> list[str]:
    groups = c.get(node, "groups", path, list, default=[])
    for i, group in enumerate(groups):
        if group not in GROUPS:
            raise c.fail(
                f"{path}.groups[{i}]", f"unknown group {group!r}; one of {', '.join(GROUPS)}"
            )
    return groups


def _pool_hosts(
    c: _Checker, pool: dict, path: str, net: ipaddress.IPv4Network, sizes
) -> list[Host]:
    name = c.name(pool, "name", path)
    count = c.positive(pool, "count", path, minimum=0)
    first = c.positive(pool, "address", path, minimum=RESERVED_HOST_NUMBERS)
    size_name = c.get(pool, "size", path, str)
    if size_name not in sizes:
        raise c.fail(f"{path}.size", f"no size {size_name!r} in sizes ({', '.join(sizes)})")
    host_vars = c.get(pool, "vars", path, dict, default={})
    for key in DERIVED_VARS:
        if key in host_vars:
            raise c.fail(f"{path}.vars.{key}", "is derived from the address; remove it")
    groups = tuple(_groups(c, pool, path))
    hosts = []
    for i in range(count):
        number = first + i
        if number >= net.num_addresses - 1:  # the last one is the broadcast address
            message = f"host {name}{i + 1} (host number {number}) is not in network {net}"
            raise c.fail(f"{path}.address", message)
        address = str(net[number])
        hosts.append(Host(f"{name}{i + 1}", number, address, sizes[size_name], groups, host_vars))
    return hosts


def _with_extra_groups(c: _Checker, hosts: list[Host], profile: dict, path: str) -> list[Host]:
    """Adds the profile's `groups` map (group: [host, ...]) to the hosts' own groups."""
    extra = c.get(profile, "groups", path, dict, default={})
    names = {h.name for h in hosts}
    for group, members in extra.items():
        where = f"{path}.groups.{group}"
        if group not in GROUPS:
            raise c.fail(where, f"unknown group; one of {', '.join(GROUPS)}")
        if not isinstance(members, list):
            raise c.fail(where, "must be a list of host names")
        for i, member in enumerate(members):
            if member not in names:
                raise c.fail(f"{where}[{i}]", f"no host {member!r} in this profile")
    return [
        replace(h, groups=tuple(g for g in GROUPS if g in h.groups or h.name in extra.get(g, [])))
        for h in hosts
    ]


def _check_unique(c: _Checker, hosts: list[Host], path: str) -> None:
    seen: dict[str, str] = {}
    for h in hosts:
        for key in (h.name, h.address):
            if key in seen:
                raise c.fail(path, f"{h.name} and {seen[key]} both have {key}; pools overlap")
            seen[key] = h.name


def _wanted(low: int, high: int | None) -> str:
    if low == high:
        return f"exactly {low}"
    return f"at least {low}" if high is None else f"at most {high}"


def _check_topology(c: _Checker, hosts: list[Host], spec_vars: dict, path: str) -> None:
    """What the roles' preflight checks would stop on, found before any machine exists."""
    for group, (low, high) in GROUP_SIZES.items():
        count = sum(group in h.groups for h in hosts)
        if count < low or (high is not None and count > high):
            raise c.fail(path, f"group {group} has {count} host(s), needs {_wanted(low, high)}")
    default = spec_vars.get("minio_drives_per_host", 1)
    minio = [h for h in hosts if "minio" in h.groups]
    drives = {h.vars.get("minio_drives_per_host", default) for h in minio}
    if len(drives) != 1 or not isinstance(next(iter(drives)), int):
        raise c.fail(path, f"minio hosts need one integer minio_drives_per_host, got {drives}")
    if len(minio) * drives.pop() < 4:
        raise c.fail(path, "minio needs at least 4 drives in total (hosts x minio_drives_per_host)")


def parse_cluster(raw: dict, profile: str, source: str = "cluster.yml") -> Cluster:
    c = _Checker(source)
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: must be a mapping")
    network = _network(c, raw)
    sizes = _sizes(c, raw)
    profiles = c.get(raw, "profiles", "", dict)
    if profile not in profiles:
        raise c.fail(f"profiles.{profile}", f"no such profile; have {', '.join(profiles)}")
    path = f"profiles.{profile}"
    node = c.get(profiles, profile, "profiles", dict)
    pools = c.get(node, "pools", path, list)
    net = ipaddress.IPv4Network(network.cidr)
    hosts = []
    for i, pool in enumerate(pools):
        if not isinstance(pool, dict):
            raise c.fail(f"{path}.pools[{i}]", "must be a mapping")
        hosts += _pool_hosts(c, pool, f"{path}.pools[{i}]", net, sizes)
    _check_unique(c, hosts, f"{path}.pools")
    hosts = _with_extra_groups(c, hosts, node, path)
    spec_vars = c.get(raw, "vars", "", dict, default={})
    _check_topology(c, hosts, spec_vars, path)
    return Cluster(
        name=f"{c.name(raw, 'name', '')}-{profile}",
        profile=profile,
        network=network,
        image=c.get(raw, "image", "", str),
        vars=spec_vars,
        hosts=tuple(hosts),
    )


def load_cluster(profile: str, path: Path = CLUSTER_FILE) -> Cluster:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path.name}: {exc}") from None
    return parse_cluster(raw, profile, path.name)
