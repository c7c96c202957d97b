"""A test's cluster spec, copied to a work directory where the test changes a pool's count."""

import re
import shutil
from pathlib import Path

import yaml

from sdp.platform.inventory import Inventory, load_inventory
from tests.conftest import sdp


class SpecCopy:
    def __init__(self, spec: Path, profile: str, pool: str, work: Path):
        self.spec, self.profile, self.pool = work / "cluster.yml", profile, pool
        self.inventory_dir = work / "inventory"
        work.mkdir(parents=True, exist_ok=True)
        shutil.copy(spec, self.spec)

    def workers(self, count: int) -> Inventory:
        """Set the pool's count, regenerate the inventory, return it."""
        raw = yaml.safe_load(self.spec.read_text())
        pool = next(p for p in raw["profiles"][self.profile]["pools"] if p["name"] == self.pool)
        pool["count"] = count
        self.spec.write_text(yaml.safe_dump(raw, sort_keys=False))
        out = self.inventory_dir / "hosts.yml"
        args = ("--spec", str(self.spec), "-p", self.profile, "-o", str(out))
        done = sdp("cluster", "inventory", *args)
        assert done.returncode == 0, done.stderr
        return load_inventory(self.inventory_dir)

    def sdp(self, *args: str):
        """`sdp GROUP COMMAND -i <the inventory> ARGS...`, which must exit 0."""
        result = sdp(*args[:2], "-i", str(self.inventory_dir), *args[2:])
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
        return result


def recap_hosts(output: str) -> set[str]:
    """The hosts a playbook run touched, from its PLAY RECAP lines."""
    return set(re.findall(r"^(\S+)\s+: ok=", output, re.MULTILINE))
