"""Downloading one file into the bundle: to a temporary name, checked, then moved into place."""

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from rich.progress import Progress

from sdp.bundle.lockfile import ChecksumMismatch, LockEntry, LockError

TIMEOUT_S = 60


def download(url: str, dest: Path, progress: Progress | None = None) -> str:
    """Stream url (http(s) or file) into dest; return the sha256 of what was written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except (urllib.error.URLError, OSError) as exc:
        raise LockError(f"cannot fetch {url}: {exc}") from None
    with response, dest.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        task = progress.add_task(dest.name, total=total) if progress else None
        while chunk := response.read(1 << 20):
            out.write(chunk)
            digest.update(chunk)
            if progress is not None and task is not None:
                progress.advance(task, len(chunk))
        if progress is not None and task is not None:
            progress.remove_task(task)
    return digest.hexdigest()


def fetch_verified(
    url: str, dest: Path, entry: LockEntry, progress: Progress | None = None
) -> None:
    """Fetch url to dest only if its sha256 is the lock's; a bad download never reaches dest."""
    partial = dest.with_name(dest.name + ".partial")
    actual = download(url, partial, progress)
    if actual != entry.sha256:
        partial.unlink(missing_ok=True)
        raise ChecksumMismatch(dest, entry.sha256, actual, f"downloaded from {url}")
    os.replace(partial, dest)


def copy_verified(src: Path, dest: Path, entry: LockEntry) -> None:
    """Copy a local file (e.g. GRAFANA_TARBALL) into the bundle through the same check."""
    url = src.resolve().as_uri()
    if not src.is_file():
        raise LockError(f"{src}: no such file")
    fetch_verified(url, dest, entry)
    shutil.copystat(src, dest)
