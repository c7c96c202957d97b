"""A runnable Kafka distribution from Maven Central jars plus artifacts/kafka/{bin,config}.

The tarball is byte-for-byte reproducible (sorted members, fixed times and owners, gzip without a
timestamp), so its sha256 can be locked like a downloaded file.
"""

import gzip
import io
import tarfile
from pathlib import Path

from sdp.bundle.lockfile import LockEntry
from sdp.bundle.manifest import Component
from sdp.paths import ARTIFACTS_DIR

FIXED_MTIME = 946684800  # 2000-01-01: fixed so the archive's bytes depend only on its contents
SCRIPTS_DIR = ARTIFACTS_DIR / "kafka"


def top_dir(component: Component) -> str:
    return f"kafka_{component.get('scala')}-{component.version}"


def assembled_path(component: Component) -> str:
    return f"kafka/{top_dir(component)}-sdp.tgz"


def upstream_path(component: Component) -> str:
    return f"kafka/{top_dir(component)}.tgz"


def _info(name: str, size: int, mode: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.type, info.mtime = size, mode, kind, FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def members(
    component: Component, jars: list[LockEntry], bundle: Path
) -> list[tuple[str, Path, int]]:
    """(archive name, source file, mode) for every file, sorted by archive name."""
    top = top_dir(component)
    files = [(f"{top}/libs/{Path(e.path).name}", bundle / e.path, 0o644) for e in jars]
    for sub in ("bin", "config"):
        for src in (SCRIPTS_DIR / sub).iterdir():
            files.append((f"{top}/{sub}/{src.name}", src, 0o755 if sub == "bin" else 0o644))
    return sorted(files)


def assemble(component: Component, jars: list[LockEntry], bundle: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    files = members(component, jars, bundle)
    top = top_dir(component)
    dirs = sorted({top, *(name.rsplit("/", 1)[0] for name, _, _ in files)})
    raw = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for d in dirs:
            tar.addfile(_info(d + "/", 0, 0o755, tarfile.DIRTYPE))
        for name, src, mode in files:
            data = src.read_bytes()
            tar.addfile(_info(name, len(data), mode), io.BytesIO(data))
    dest.write_bytes(raw.getvalue())


def unpack(tarball: Path, into: Path) -> Path:
    """Extract a verified tarball under `into`; returns the distribution's top directory."""
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        top = tar.getmembers()[0].name.split("/", 1)[0]
        tar.extractall(into, filter="data")
    return into / top
