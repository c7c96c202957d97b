"""A cluster spec copied to a work directory, where a test or a benchmark changes one pool's count
as a user would in cluster.yml, and the inventory the copy gives."""

from pathlib import Path

import yaml

from sdp.cluster.inventory import render
from sdp.cluster.spec import load_cluster
from sdp.platform.inventory import Inventory, load_inventory

SPEC = "cluster.yml"


class SpecCopy:
    """`work`/cluster.yml, a copy of `spec` (the pool's count set since stays), and
    `work`/inventory/."""

    def __init__(self, spec: Path, profile: str, pool: str, work: Path):
        self.spec, self.profile, self.pool = work / SPEC, profile, pool
        self.inventory_dir = work / "inventory"
        work.mkdir(parents=True, exist_ok=True)
        raw = yaml.safe_load(spec.read_text())
        if self.spec.exists():
            # The hosts run at the count set since; the rest follows the spec, edits included (a
            # copy made once kept the VM test at its old machine sizes).
            self._pool(raw)["count"] = self.count()
        self._write(raw)

    def _pool(self, raw: dict) -> dict:
        pools = raw["profiles"][self.profile]["pools"]
        return next(p for p in pools if p["name"] == self.pool)

    def _write(self, raw: dict) -> None:
        self.spec.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))

    def count(self) -> int:
        return self._pool(yaml.safe_load(self.spec.read_text()))["count"]

    def workers(self, count: int) -> Inventory:
        """Set the pool's count, regenerate the inventory, return it."""
        raw = yaml.safe_load(self.spec.read_text())
        self._pool(raw)["count"] = count
        self._write(raw)
        out = self.inventory_dir / "hosts.yml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(load_cluster(self.profile, self.spec)))
        return load_inventory(self.inventory_dir)
