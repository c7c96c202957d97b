"""Downloading one file with progress; Builder.ensure checks it and moves it into place."""

import urllib.error
import urllib.request
from pathlib import Path

from rich.progress import Progress

from sdp.bundle.lockfile import LockError

TIMEOUT_S = 60


def download(url: str, dest: Path, progress: Progress | None = None) -> None:
    """Stream url (http(s) or file) into dest."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except (urllib.error.URLError, OSError) as exc:
        raise LockError(f"cannot fetch {url}: {exc}") from None
    with response, dest.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        task = progress.add_task(dest.name, total=total) if progress else None
        while chunk := response.read(1 << 20):
            out.write(chunk)
            if progress is not None and task is not None:
                progress.advance(task, len(chunk))
        if progress is not None and task is not None:
            progress.remove_task(task)
