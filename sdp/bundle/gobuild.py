"""Binaries built from Go modules (MinIO, mc, the libvirt provider, OpenTofu) with the local Go."""

import json
import os
import shutil
import subprocess
from pathlib import Path

from sdp.bundle.lockfile import LockError
from sdp.bundle.manifest import Component
from sdp.processes import tail


def go_version() -> str:
    """`go1.26.8 linux/amd64`: recorded in the lock because a binary's sha256 depends on it."""
    if shutil.which("go") is None:
        raise LockError(
            "go is not on PATH; install Go (https://go.dev/dl or Debian's golang) to build "
            "MinIO, mc and the Terraform provider"
        )
    out = subprocess.run(["go", "version"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.split()[2:4])


def binary_path(component: Component) -> str:
    """Where a component's binary sits inside the bundle."""
    if component.kind == "terraform-provider":
        # Terraform's "unpacked" filesystem-mirror layout: HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/.
        version = component.version.removeprefix("v")
        name = component.get("source").rsplit("/", 1)[-1]
        return (
            f"terraform-providers/{component.get('source')}/{version}/linux_amd64/"
            f"terraform-provider-{name}_v{version}"
        )
    return f"bin/{component.get('binary')}"


def _go_env(work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GOMODCACHE": str(work / "go" / "mod"),
        "GOCACHE": str(work / "go" / "build"),
        "GOPATH": str(work / "go" / "path"),
        "CGO_ENABLED": "0",
        # Same flags every time so the same toolchain gives the same bytes as the lock.
        "GOFLAGS": "-trimpath -buildvcs=false -mod=readonly",
        "GOTOOLCHAIN": "local",
    }


def _run(cmd: list[str], env: dict[str, str], cwd: Path | None, log: Path, what: str) -> str:
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        result = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=fh, text=True)
    if result.returncode != 0:
        raise LockError(f"{what} failed; log: {log}\n{tail(log, 15)}")
    return result.stdout


def build(component: Component, work: Path, dest: Path, log: Path) -> None:
    """Download the module's source at the pinned version, then `go build` inside it.

    Not `go install module@version`: that also asks the proxy for the module's version list
    (to warn about deprecation), which proxies may refuse, and it ignores replace directives.
    """
    module, package = component.get("module"), component.get("package", ".")
    env = _go_env(work)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    what = f"building {component.name} ({module}@{component.version})"
    info = json.loads(
        _run(
            ["go", "mod", "download", "-json", f"{module}@{component.version}"],
            env,
            None,
            log,
            what,
        )
    )
    src = Path(info["Dir"])  # read-only module cache; -mod=readonly builds write nothing there
    out = work / "out" / component.name
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(["go", "build", "-ldflags=-s -w -buildid=", "-o", str(out), package], env, src, log, what)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(out, dest)


def clean(work: Path) -> None:
    """Go's module and build caches are scratch (about 3 GB for MinIO and mc): the binaries are
    locked and kept in the bundle; a rebuild after a version change downloads again."""
    caches = work / "go"
    if caches.exists():
        subprocess.run(["chmod", "-R", "u+w", str(caches)], check=False)  # the module cache is r/o
        shutil.rmtree(caches, ignore_errors=True)
