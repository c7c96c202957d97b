"""A jar without the packages nobody calls: the manifest's `trim:` of a maven component.

The AWS SDK's bundle jar holds every AWS service (641 MB) and S3A calls four of them; each Spark
host got the whole jar. The trimmed copy is built from the locked original and locked itself, so
it is checked like any other file. Its bytes depend on the zlib that deflates them (`built_with`).
"""

import zipfile
import zlib
from pathlib import Path

from sdp.bundle import maven
from sdp.bundle.lockfile import LockError
from sdp.bundle.manifest import Component

PREFIX = "maven-trimmed/"


def trims(component: Component) -> dict[str, dict]:
    """coordinate -> {drop: package dir, except: [subdirectories kept]}, checked."""
    found = component.get("trim") or {}
    for coordinate, rule in found.items():
        where = f"components.{component.name}.trim.{coordinate}"
        if coordinate not in component.maven_artifacts:
            raise LockError(f"{where}: not one of the component's artifacts")
        if not isinstance(rule, dict) or not str(rule.get("drop", "")).endswith("/"):
            raise LockError(f"{where}.drop: a package directory ending in '/' is required")
    return found


def trimmed_path(coordinate: str) -> str:
    repo_path = maven.repository_path(coordinate)
    return PREFIX + repo_path.removesuffix(".jar") + "-trimmed.jar"


def origin(coordinate: str, rule: dict) -> str:
    kept = ", ".join(rule.get("except", []))
    return f"{coordinate} without {rule['drop']}* but {kept}"


def toolchain() -> str:
    return f"zlib {zlib.ZLIB_RUNTIME_VERSION}"


def trim(source: Path, dest: Path, rule: dict) -> None:
    """Copy source to dest without the entries under rule['drop'] but its 'except' children; the
    entries keep their order and timestamps, so the same source gives the same bytes."""
    drop, keep = rule["drop"], set(rule.get("except", []))
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(dest, "w") as out:
        for info in src.infolist():
            if info.filename.startswith(drop):
                child = info.filename[len(drop) :].split("/", 1)[0]
                if child and child not in keep:
                    continue
            out.writestr(info, src.read(info), zipfile.ZIP_DEFLATED, 6)
