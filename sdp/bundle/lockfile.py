"""artifacts/lock.yml: the sha256 of every file the bundle holds, and where each comes from."""

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from sdp.paths import LOCK_FILE

HEADER = (
    "# Written by `sdp artifacts lock`; every file in the bundle is checked against this.\n"
    "# Keys are paths inside the bundle. Edit artifacts/manifest.yml, then re-lock.\n"
)


class LockError(ValueError):
    """The lock is missing an entry or a file does not match it."""


class ChecksumMismatch(LockError):
    def __init__(self, path: Path, expected: str, actual: str, hint: str = ""):
        self.path, self.expected, self.actual = path, expected, actual
        message = (
            f"checksum mismatch for {path}: lock has sha256 {expected}, file has sha256 {actual}"
        )
        super().__init__(message + (f"; {hint}" if hint else ""))


@dataclass(frozen=True)
class LockEntry:
    path: str  # relative to the bundle directory
    component: str
    sha256: str
    size: int | None = None  # bytes, where known when locking
    url: str | None = None  # where a fetched file comes from
    built_from: str | None = None  # what a built file is built from (module@version, ...)
    built_with: str | None = None  # toolchain of a built file (its checksum depends on it)
    also: list[str] | None = None  # other components that install this file (PyPI's shared deps)

    def to_yaml(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "path" and v is not None}

    def of(self, component: str) -> bool:
        return self.component == component or component in (self.also or [])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(path: Path, entry: LockEntry) -> None:
    """Raise ChecksumMismatch unless the file's size and sha256 are the lock's."""
    if not path.is_file():
        raise LockError(f"{path}: missing (lock entry {entry.path} of {entry.component})")
    actual = sha256_file(path)
    if actual != entry.sha256:
        hint = ""
        if entry.built_with:
            hint = f"it was locked when built with {entry.built_with}"
        raise ChecksumMismatch(path, entry.sha256, actual, hint)


class Lock:
    def __init__(self, entries: dict[str, LockEntry] | None = None):
        self.entries: dict[str, LockEntry] = dict(entries or {})

    def for_component(self, component: str) -> list[LockEntry]:
        return sorted((e for e in self.entries.values() if e.of(component)), key=lambda e: e.path)

    def get(self, path: str) -> LockEntry | None:
        return self.entries.get(path)

    def require(self, path: str, component: str) -> LockEntry:
        entry = self.entries.get(path)
        if entry is None:
            raise LockError(
                f"artifacts/lock.yml has no entry for {path} ({component}); "
                f"run `sdp artifacts lock --component {component}` "
                "on a machine that reaches its source"
            )
        return entry

    def replace_component(self, component: str, entries: list[LockEntry]) -> None:
        self.entries = {p: e for p, e in self.entries.items() if e.component != component}
        self.entries.update({e.path: e for e in entries})

    def add(self, entry: LockEntry) -> None:
        self.entries[entry.path] = entry

    def dump(self) -> str:
        body = {"files": {p: self.entries[p].to_yaml() for p in sorted(self.entries)}}
        return HEADER + yaml.safe_dump(body, sort_keys=False, width=200)


def parse_lock(raw: dict | None, source: str = "lock") -> Lock:
    files = (raw or {}).get("files") or {}
    entries = {}
    for path, data in files.items():
        try:
            entries[path] = LockEntry(path=path, **data)
        except TypeError as exc:
            raise LockError(f"{source}: entry {path}: {exc}") from None
        if len(entries[path].sha256) != 64:
            raise LockError(f"{source}: entry {path}: sha256 must have 64 hex digits")
    return Lock(entries)


def load_lock(path: Path = LOCK_FILE) -> Lock:
    if not path.exists():
        return Lock()
    return parse_lock(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))


def save_lock(lock: Lock, path: Path = LOCK_FILE) -> None:
    path.write_text(lock.dump(), encoding="utf-8")
