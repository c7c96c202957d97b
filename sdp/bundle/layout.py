"""Where a built bundle keeps things, for the code that uses it (tests, launchers, roles)."""

from functools import cache
from pathlib import Path

import yaml

from sdp.bundle.build import INDEX_FILE
from sdp.bundle.kafka_dist import unpack
from sdp.bundle.lockfile import LockError
from sdp.paths import bundle_dir, cache_dir


@cache
def index() -> dict:
    path = bundle_dir() / INDEX_FILE
    if not path.exists():
        raise LockError(f"{path} is missing: run `make artifacts` (sdp artifacts build) first")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def binary(name: str) -> Path:
    try:
        return bundle_dir() / index()["binaries"][name]
    except KeyError:
        raise LockError(f"the bundle has no binary {name!r}; run `make artifacts`") from None


def jars(*components: str) -> list[Path]:
    found = index()["jars"]
    missing = [c for c in components if c not in found]
    if missing:
        raise LockError(f"the bundle has no jars for {missing}; run `make artifacts`")
    return [bundle_dir() / p for c in components for p in found[c]]


def kafka_home() -> Path:
    """The Kafka distribution, unpacked once from the verified tarball into the cache."""
    tarball = bundle_dir() / index()["kafka_tarball"]
    opt = cache_dir() / "opt"
    home = opt / tarball.name.removesuffix(".tgz").removesuffix("-sdp")
    stamp = home / ".from"  # which tarball it came from: switching --source unpacks again
    if not stamp.exists() or stamp.read_text() != tarball.name:
        home = unpack(tarball, opt)
        (home / ".from").write_text(tarball.name)
    return home
