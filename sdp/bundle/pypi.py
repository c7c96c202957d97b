"""PyPI files for the wheelhouse: resolving requirements into lock entries with pip's report."""

import json
import subprocess
import sys
import tempfile
import tomllib
import urllib.parse
from pathlib import Path

from sdp.bundle.lockfile import LockEntry, LockError
from sdp.bundle.manifest import Component
from sdp.paths import ARTIFACTS_DIR, REPO_ROOT

WHEELHOUSE = "wheelhouse"
BUILT_WHEELS = "built-wheels"  # wheels built here from the wheelhouse's sdists (not locked)


def requirements_of(component: Component) -> list[str]:
    if component.get("from_pyproject"):
        pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        return list(pyproject["project"]["dependencies"])
    requirements = component.get("requirements")
    if not requirements:
        raise LockError(f"components.{component.name}: a pypi component needs requirements")
    return list(requirements)


def constraints_file(component: Component) -> Path | None:
    relative = component.get("constraints")
    return ARTIFACTS_DIR / relative if relative else None


def pip_report(requirements: list[str], constraints: Path | None, index: str) -> list[dict]:
    """What pip would install for requirements here (Python 3.11, x86_64 like the target hosts)."""
    with tempfile.TemporaryDirectory(prefix="sdp-pip-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--index-url",
            index,
            "--report",
            str(report),
            *requirements,
        ]
        if constraints is not None and constraints.exists():
            cmd += ["-c", str(constraints)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise LockError(f"pip could not resolve {requirements}:\n{result.stderr}")
        return json.loads(report.read_text())["install"]


def entries_from_report(component: str, installs: list[dict]) -> list[LockEntry]:
    entries = []
    for item in installs:
        info = item["download_info"]
        url = info["url"]
        hashes = info.get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            raise LockError(f"pip reported no sha256 for {url}")
        filename = urllib.parse.unquote(url.rsplit("/", 1)[-1])
        entries.append(
            LockEntry(
                path=f"{WHEELHOUSE}/{filename}",
                component=component,
                sha256=hashes["sha256"],
                url=url,
            )
        )
    return entries


def frozen_constraints(installs: list[dict]) -> str:
    pins = sorted(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in installs)
    return (
        "# Frozen by `sdp artifacts lock` (pip's resolution for Python 3.11, x86_64).\n"
        + "\n".join(pins)
        + "\n"
    )


def resolve(component: Component, index: str) -> list[LockEntry]:
    """Lock entries for every file the component's requirements install; freezes constraints."""
    requirements = requirements_of(component)
    constraints = constraints_file(component)
    installs = pip_report(requirements, constraints, index)
    if constraints is not None and not constraints.exists():
        constraints.parent.mkdir(parents=True, exist_ok=True)
        constraints.write_text(frozen_constraints(installs), encoding="utf-8")
    return entries_from_report(component.name, installs)
