"""The inventory as the control node's Python sees it: groups, hosts and their addresses."""

import configparser
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sdp.paths import REPO_ROOT
from sdp.platform import settings

ANSIBLE_DIR = REPO_ROOT / "ansible"
LOCAL_INVENTORY = ANSIBLE_DIR / "inventories" / "local"


def ansible_tool(name: str) -> str:
    """ansible-playbook & co. from the interpreter's own environment (the project's venv)."""
    return str(Path(sys.executable).with_name(name))


@contextmanager
def ansible_env() -> Iterator[dict[str, str]]:
    """The environment of one Ansible run: the project's ansible.cfg, and a control directory of
    its own, so the run's SSH master connections are never those of an earlier run (to a host
    since rebuilt at the same address)."""
    with tempfile.TemporaryDirectory(prefix="sdp-ssh-") as control:
        yield {
            **os.environ,
            "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": control,
        }


def ssh_options() -> list[str]:
    """The options Ansible's ssh gets from ansible.cfg (ssh_args, ssh_common_args)."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(ANSIBLE_DIR / "ansible.cfg")
    section = config["ssh_connection"]
    return shlex.split(section["ssh_args"]) + shlex.split(section["ssh_common_args"])


class InventoryError(ValueError):
    pass


@dataclass(frozen=True)
class Inventory:
    path: Path
    groups: dict[str, list[str]]
    hostvars: dict[str, dict]

    def hosts(self, group: str) -> list[str]:
        return self.groups.get(group, [])

    def address(self, host: str) -> str:
        return str(self.hostvars.get(host, {}).get("ansible_host", host))

    def addresses(self, group: str) -> list[str]:
        return [self.address(h) for h in self.hosts(group)]

    def first(self, group: str) -> str:
        """The group's first host (where its one service runs), or an error naming the group."""
        if not self.hosts(group):
            raise InventoryError(f"{self.path}: no host in the group {group}")
        return self.hosts(group)[0]

    def first_address(self, group: str) -> str:
        return self.address(self.first(group))

    def ssh(self, host: str, command: str) -> list[str]:
        """The argv running `command` on `host` as Ansible reaches it (root, the project's key)."""
        from sdp.hosts.nspawn import ssh_command, ssh_key_path, state_dir  # it imports this module

        return [*ssh_command(ssh_key_path(state_dir()), self.address(host)), command]

    def var(self, name: str):
        """A platform setting every host shares: the inventory's value or _platform's default."""
        default = settings.platform(name)
        values = {json.dumps(v.get(name, default)) for v in self.hostvars.values()}
        if len(values) > 1:
            raise InventoryError(f"{self.path}: hosts disagree on {name}: {sorted(values)}")
        return json.loads(values.pop()) if values else default

    @property
    def cluster_name(self) -> str:
        return self.var("sdp_cluster_name")

    @property
    def container_hosts(self) -> bool:
        """True when the hosts are `sdp hosts` containers (every host is reached over SSH)."""
        return all(v.get("ansible_connection", "ssh") == "ssh" for v in self.hostvars.values())


def parse_listing(listing: dict, path: Path) -> Inventory:
    hostvars = listing.get("_meta", {}).get("hostvars", {})
    groups: dict[str, list[str]] = {}

    def members(group: str) -> list[str]:
        node = listing.get(group, {})
        found = list(node.get("hosts", []))
        for child in node.get("children", []):
            found += [h for h in members(child) if h not in found]
        return found

    for group in listing:
        if group != "_meta":
            groups[group] = members(group)
    return Inventory(path, groups, hostvars)


def load_inventory(path: Path = LOCAL_INVENTORY) -> Inventory:
    """The inventory at `path`; an error naming it when it is missing or holds no host (Ansible
    itself only warns and lists nothing)."""
    if not path.exists():
        raise InventoryError(f"{path}: no such inventory file or directory")
    result = subprocess.run(
        [ansible_tool("ansible-inventory"), "-i", str(path.resolve()), "--list"],
        capture_output=True,
        text=True,
        cwd=ANSIBLE_DIR,
        stdin=subprocess.DEVNULL,  # Ansible refuses a non-blocking one (a lookup's, for one)
    )
    if result.returncode != 0:
        raise InventoryError(f"reading the inventory {path} failed:\n{result.stderr.strip()}")
    inv = parse_listing(json.loads(result.stdout), path)
    if not inv.hostvars:
        said = "; ".join(  # Ansible's own words, not its Python's deprecation warnings
            line.split("]:", 1)[1].strip()
            for line in result.stderr.splitlines()
            if line.lstrip().startswith(("[WARNING]:", "[ERROR]:"))
        )
        raise InventoryError(f"{path}: no hosts in this inventory" + (f" ({said})" if said else ""))
    return inv
