"""Where things live: the repository, the artifact cache (outside the clone) and its bundle."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS_DIR = REPO_ROOT / "artifacts"
MANIFEST_FILE = ARTIFACTS_DIR / "manifest.yml"
LOCK_FILE = ARTIFACTS_DIR / "lock.yml"


def cache_dir() -> Path:
    """The artifact cache; shared by every clone on the machine so fresh clones reuse it."""
    configured = os.environ.get("SDP_CACHE")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "sdp"


def bundle_dir() -> Path:
    """Files checked against the lock: what roles install and `sdp artifacts serve` serves."""
    return cache_dir() / "bundle"


def work_dir() -> Path:
    """Build scratch space and toolchain caches (Go, Maven); never served, never locked."""
    return cache_dir() / "work"
