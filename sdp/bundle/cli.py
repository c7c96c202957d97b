"""`sdp artifacts ...`: build, lock, verify and serve the offline bundle."""

import contextlib
import functools
import os
import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sdp.bundle.build import INDEX_FILE, SOURCES, Builder, missing_packages
from sdp.bundle.layout import index
from sdp.bundle.lockfile import LockEntry, LockError, check_file, load_lock, save_lock
from sdp.bundle.locking import Locker
from sdp.bundle.manifest import ManifestError, load_manifest
from sdp.bundle.served import http_server, wheels
from sdp.bundle.terraform import cli_config
from sdp.paths import bundle_dir, work_dir

app = typer.Typer(
    no_args_is_help=True, help="The offline artifact bundle (artifacts/manifest.yml)."
)
console = Console(stderr=True)

SourceOpt = Annotated[str, typer.Option(help=f"where files come from: {' | '.join(SOURCES)}")]
ComponentOpt = Annotated[
    list[str] | None, typer.Option("--component", "-c", help="only these components")
]


def _fails_cleanly(fn):
    """Manifest and lock problems are user errors: one red line, exit 1, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (LockError, ManifestError) as exc:
            console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _size(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n else ""


@app.command()
@_fails_cleanly
def build(
    source: SourceOpt = "registries",
    component: ComponentOpt = None,
    repair: Annotated[bool, typer.Option(help="replace cached files that fail the check")] = False,
):
    """Fetch or build every locked file into the cache, checking each against the lock."""
    started = time.monotonic()
    builder = Builder(
        load_manifest(),
        load_lock(),
        bundle_dir(),
        work_dir(),
        source=source,
        repair=repair,
        console=console,
    )
    outcomes = builder.run(component)
    table = Table(title=f"bundle in {bundle_dir()}")
    for col in ("component", "action", "files", "size", "seconds", "note"):
        table.add_column(col, justify="right" if col in ("files", "size", "seconds") else "left")
    for o in outcomes:
        table.add_row(
            o.component, o.action, str(o.files or ""), _size(o.size), f"{o.seconds:.1f}", o.note
        )
    console.print(table)
    console.print(
        f"bundle ready in {time.monotonic() - started:.1f} s; every file matches artifacts/lock.yml"
    )


@app.command()
@_fails_cleanly
def lock(
    component: ComponentOpt = None,
    source: SourceOpt = "registries",
    file: Annotated[Path | None, typer.Option(help="a local copy of a tarball component")] = None,
):
    """Resolve the manifest and write artifacts/lock.yml (maintainers, after a version bump)."""
    manifest, lock_ = load_manifest(), load_lock()
    builder = Builder(manifest, lock_, bundle_dir(), work_dir(), source=source, console=console)
    try:
        Locker(builder, console).run(component, file)
    finally:  # keep what was locked before a failure
        save_lock(lock_)
    console.print(f"artifacts/lock.yml: {len(lock_.entries)} files")


@app.command()
@_fails_cleanly
def verify():
    """Check every file present in the bundle against the lock (no network)."""
    lock_ = load_lock()
    checked = 0
    for entry in lock_.entries.values():
        path = bundle_dir() / entry.path
        if path.exists():
            check_file(path, entry)
            checked += 1
    absent = len(lock_.entries) - checked
    console.print(f"{checked} files match artifacts/lock.yml ({absent} not in this bundle)")
    if (bundle_dir() / INDEX_FILE).exists():
        built = index().get("built_wheels", {}).values()
        for wheel in built:  # not locked: checked against the sha256 the build recorded
            check_file(bundle_dir() / wheel["path"], LockEntry(wheel["path"], "", wheel["sha256"]))
        console.print(f"{len(built)} wheels built here match {INDEX_FILE}")


@app.command()
@_fails_cleanly
def version(name: str):
    """Print a component's pinned version (for scripts, the Makefile, Vagrant)."""
    print(load_manifest()[name].version)


@app.command()
@_fails_cleanly
def terraformrc():
    """Print a Terraform CLI config that installs providers from the bundle's mirror only."""
    print(cli_config(bundle_dir() / index()["terraform_mirror"]), end="")


@app.command()
def path():
    """Print the bundle directory."""
    print(bundle_dir())


@app.command()
@_fails_cleanly
def requirements(component: str):
    """Print a pypi component's files in the bundle as hashed pip requirements (what the roles
    install on the hosts), e.g. for `pip install --no-index --require-hashes -r`."""
    for f in wheels(component):
        print(f"{bundle_dir() / f['path']} --hash=sha256:{f['sha256']}")


@app.command("host-deps")
@_fails_cleanly
def host_deps(
    install: Annotated[bool, typer.Option(help="apt-get install what is missing")] = False,
    component: Annotated[
        list[str] | None,
        typer.Option(help="only these apt components (optional ones are left out otherwise)"),
    ] = None,
):
    """Check (or install) the Debian packages the manifest lists for this host."""
    apt = {c.name: c for c in load_manifest().of_kind("apt")}
    unknown = sorted(set(component or []) - set(apt))
    if unknown:
        console.print(f"[red]no apt component[/red] {', '.join(unknown)}; have {', '.join(apt)}")
        raise typer.Exit(2)
    chosen = (
        [apt[n] for n in component]
        if component
        else [c for c in apt.values() if not c.get("optional")]
    )
    packages = [p for c in chosen for p in c.get("packages", [])]
    missing = missing_packages(packages)
    if not missing:
        console.print(f"installed: {' '.join(packages)}")
        return
    if not install:
        console.print(
            f"[red]missing Debian packages:[/red] {' '.join(missing)} (run with --install)"
        )
        raise typer.Exit(1)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], check=True, env=env
    )


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port")] = 8765,
    bind: Annotated[str, typer.Option(help="address to listen on")] = "0.0.0.0",
):
    """Serve the bundle over HTTP so other hosts install from this control node."""
    with http_server(bind, port) as server:
        console.print(f"serving {bundle_dir()} on http://{bind}:{port}/ (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
