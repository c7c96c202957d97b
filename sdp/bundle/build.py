"""`sdp artifacts build`: fill the bundle from the lock, checking every file before it is kept."""

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from sdp.bundle import gobuild, jar_trim, kafka_dist, maven, pypi
from sdp.bundle.fetch import download
from sdp.bundle.lockfile import (
    ChecksumMismatch,
    Lock,
    LockEntry,
    LockError,
    check_file,
    sha256_file,
)
from sdp.bundle.manifest import Component, Manifest
from sdp.paths import REPO_ROOT

SOURCES = ("registries", "upstream")
INDEX_FILE = "index.yml"


@dataclass
class Outcome:
    component: str
    action: str  # cached | fetched | built | skipped
    files: int = 0
    size: int = 0
    seconds: float = 0.0
    note: str = ""


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def stale_reason(component: Component, entries: list[LockEntry]) -> str | None:
    """Why the lock no longer matches what the manifest asks for, or None."""
    paths = {e.path for e in entries}
    if component.kind in ("maven", "kafka-dist"):
        for coordinate in component.maven_artifacts:
            if maven.bundle_path(maven.repository_path(coordinate)) not in paths:
                return f"the manifest asks for {coordinate}"
    if component.kind == "pypi" and not component.get("from_pyproject"):
        names = {Path(p).name.lower() for p in paths}
        for requirement in component.get("requirements", []):
            name, _, version = requirement.partition("==")
            prefix = f"{_normalized(name.split('[')[0])}-{version}"
            if version and not any(_normalized(n).startswith(_normalized(prefix)) for n in names):
                return f"the manifest asks for {requirement}"
    return None


def stale_error(component: Component, reason: str) -> LockError:
    return LockError(
        f"artifacts/lock.yml is stale for {component.name}: {reason}; "
        f"run `sdp artifacts lock --component {component.name}`"
    )


def go_origin(component: Component) -> str:
    """module@version, or module/package@version for a command inside the module."""
    package = component.get("package", ".").removeprefix("./").removeprefix(".")
    return f"{component.get('module')}{'/' + package if package else ''}@{component.version}"


class Builder:
    def __init__(
        self,
        manifest: Manifest,
        lock: Lock,
        bundle: Path,
        work: Path,
        *,
        source: str = "registries",
        repair: bool = False,
        console: Console | None = None,
    ):
        if source not in SOURCES:
            raise LockError(f"--source {source!r}: choose one of {', '.join(SOURCES)}")
        self.manifest, self.lock, self.bundle, self.work = manifest, lock, bundle, work
        self.source, self.repair = source, repair
        self.console = console or Console(stderr=True)
        self.index: dict = {"source": source, "binaries": {}, "jars": {}, "built_wheels": {}}
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )

    # -- one file -------------------------------------------------------------------------------
    def ensure(self, entry: LockEntry, produce: Callable[[Path], None]) -> str:
        """Keep bundle/entry.path only if it matches the lock; produce it when absent."""
        dest = self.bundle / entry.path
        if dest.exists():
            try:
                check_file(dest, entry)
                return "cached"
            except ChecksumMismatch as exc:
                if not self.repair:
                    raise ChecksumMismatch(
                        exc.path,
                        exc.expected,
                        exc.actual,
                        "nothing was installed from it; "
                        "run `sdp artifacts build --repair` to replace it",
                    ) from None
                dest.unlink()
        partial = dest.with_name(dest.name + ".partial")
        partial.parent.mkdir(parents=True, exist_ok=True)
        produce(partial)
        actual = sha256_file(partial)
        if actual != entry.sha256:
            partial.unlink(missing_ok=True)
            hint = (
                f"built with {gobuild.go_version()}, locked with {entry.built_with}"
                if entry.built_with
                else ""
            )
            raise ChecksumMismatch(dest, entry.sha256, actual, hint)
        os.replace(partial, dest)
        return "built" if entry.built_from else "fetched"

    def fetch(self, entry: LockEntry) -> str:
        if not entry.url:
            raise LockError(f"lock entry {entry.path} has no url to fetch it from")
        return self.ensure(entry, lambda dest: download(entry.url, dest, self.progress))

    def entries(self, component: Component, *, prefix: str = "") -> list[LockEntry]:
        entries = [e for e in self.lock.for_component(component.name) if e.path.startswith(prefix)]
        reason = "it has no entries" if not entries else stale_reason(component, entries)
        if reason:
            raise stale_error(component, reason)
        return entries

    # -- one component per kind ------------------------------------------------------------------
    def fetch_all(self, entries: Iterable[LockEntry]) -> str:
        actions = {self.fetch(e) for e in entries}
        return "fetched" if "fetched" in actions else "cached"

    def maven(self, component: Component) -> tuple[str, list[LockEntry]]:
        entries = self.entries(component, prefix="maven/")
        trims = {maven.bundle_path(maven.repository_path(c)): (c, rule)
                 for c, rule in jar_trim.trims(component).items()}  # fmt: skip
        kept = [e for e in entries if e.path not in trims]
        action = self.fetch_all(kept)
        jars = [e.path for e in entries]
        for source in (e for e in entries if e.path in trims):
            coordinate, rule = trims[source.path]
            entry = self.lock.require(jar_trim.trimmed_path(coordinate), component.name)
            wanted = jar_trim.origin(coordinate, rule)
            if entry.built_from != wanted:
                raise stale_error(
                    component, f"locked {entry.built_from}, the manifest asks for {wanted}"
                )
            built = self.ensure(entry, lambda d, s=source, r=rule: self.trim(s, d, r))
            # No host installs the source (641 MB of the AWS SDK); a rebuild fetches it again.
            (self.bundle / source.path).unlink(missing_ok=True)
            jars[jars.index(source.path)] = entry.path  # hosts get the trimmed jar instead
            kept.append(entry)
            action = "built" if built == "built" else action
        self.index["jars"][component.name] = jars
        return action, kept

    def trim(self, source: LockEntry, dest: Path, rule: dict) -> None:
        self.fetch(source)
        jar_trim.trim(self.bundle / source.path, dest, rule)

    def pypi(self, component: Component) -> tuple[str, list[LockEntry]]:
        entries = self.entries(component)
        action = self.fetch_all(entries)
        for entry in entries:
            if entry.path.endswith(".tar.gz"):
                self.index["built_wheels"][entry.path] = self.built_wheel(entry)
        return action, entries

    def built_wheel(self, sdist: LockEntry) -> dict:
        """A wheel built here once from a verified sdist, so hosts install it rather than build it
        (pyspark: 1025 s on an emulated VM). Built from the lock's sdist but not locked itself, like
        the project's wheel: its sha256 goes to the index, and the roles install by that."""
        out = self.bundle / pypi.BUILT_WHEELS / Path(sdist.path).name.removesuffix(".tar.gz")
        found = sorted(out.glob("*.whl"))
        stamp = out / ".from"  # the sdist's sha256: a re-locked sdist builds again
        if not found or not stamp.exists() or stamp.read_text() != sdist.sha256:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            name = Path(sdist.path).name
            task = self.progress.add_task(f"building a wheel of {name}", total=None)
            try:
                pip_wheel(self.bundle / sdist.path, out, "--no-index")
            finally:
                self.progress.remove_task(task)
            stamp.write_text(sdist.sha256)
            found = sorted(out.glob("*.whl"))
        wheel = found[0]
        return {"path": str(wheel.relative_to(self.bundle)), "sha256": sha256_file(wheel)}

    def upstream(self, component: Component, path: str) -> tuple[str, LockEntry]:
        """Fetch the component's official download into bundle/path, checked like any file."""
        entry = self.lock.require(path, component.name)
        url = component.get("upstream")["url"]
        return self.ensure(entry, lambda d: download(url, d, self.progress)), entry

    def kafka(self, component: Component) -> tuple[str, list[LockEntry]]:
        if self.source == "upstream":
            path = kafka_dist.upstream_path(component)
            action, entry = self.upstream(component, path)
            self.index["kafka_tarball"] = path
            return action, [entry]
        jars_action, jars = self.maven(component)
        path = kafka_dist.assembled_path(component)
        entry = self.lock.require(path, component.name)
        action = self.ensure(entry, lambda d: kafka_dist.assemble(component, jars, self.bundle, d))
        self.index["kafka_tarball"] = path
        return ("built" if action == "built" else jars_action), [*jars, entry]

    def go(self, component: Component) -> tuple[str, list[LockEntry]]:
        on_path = [t for t in component.get("optional_if_on_path", []) if shutil.which(t)]
        if on_path:
            raise _Skip(f"{on_path[0]} is on PATH ({shutil.which(on_path[0])})")
        path = gobuild.binary_path(component)
        entry = self.lock.require(path, component.name)
        if entry.built_from != go_origin(component):
            reason = f"locked {entry.built_from}, the manifest asks for {go_origin(component)}"
            raise stale_error(component, reason)
        log = self.work / "logs" / f"{component.name}.log"
        task = self.progress.add_task(
            f"building {component.name} (go build, log {log})", total=None
        )
        try:
            action = self.ensure(entry, lambda d: gobuild.build(component, self.work, d, log))
        finally:
            self.progress.remove_task(task)
        if component.kind == "terraform-provider":
            self.index["terraform_mirror"] = "terraform-providers"
        else:
            self.index["binaries"][component.name] = path
        return action, [entry]

    def tarball(self, component: Component) -> tuple[str, list[LockEntry]]:
        env = component.get("env")
        local = os.environ.get(env) if env else None
        name = Path(component.get("upstream")["url"]).name
        entry_path = f"{component.name}/{name}"
        if local:
            if not Path(local).is_file():
                raise LockError(f"{env}={local}: no such file")
            entry = self.lock.require(entry_path, component.name)
            action = self.ensure(entry, lambda d: shutil.copyfile(local, d))
        elif self.source == "upstream":
            action, entry = self.upstream(component, entry_path)
        else:
            raise _Skip(f"optional: set {env}=PATH or use --source upstream")
        self.index.setdefault("tarballs", {})[component.name] = entry_path
        return action, [entry]

    def apt(self, component: Component) -> tuple[str, list[LockEntry]]:
        missing = missing_packages(component.get("packages", []))
        note = (
            f"missing: {' '.join(missing)} (sdp artifacts host-deps --install)" if missing else ""
        )
        raise _Skip(note or "installed", keep_action="checked")

    # -- everything --------------------------------------------------------------------------------
    HANDLERS: ClassVar[dict[str, str]] = {
        "maven": "maven",
        "kafka-dist": "kafka",
        "pypi": "pypi",
        "go": "go",
        "terraform-provider": "go",
        "tarball": "tarball",
        "apt": "apt",
    }
    ORDER = ("apt", "maven", "kafka-dist", "pypi", "go", "terraform-provider", "tarball")

    def run(self, only: list[str] | None = None) -> list[Outcome]:
        components = sorted(
            self.manifest.components.values(), key=lambda c: self.ORDER.index(c.kind)
        )
        if only:
            for name in only:
                self.manifest[name]  # raises with the known names for a typo
            components = [c for c in components if c.name in only]
        self.bundle.mkdir(parents=True, exist_ok=True)
        outcomes = []
        with self.progress:
            for component in components:
                started = time.monotonic()
                handler = getattr(self, self.HANDLERS[component.kind])
                try:
                    action, entries = handler(component)
                    size = sum((self.bundle / e.path).stat().st_size for e in entries)
                    outcome = Outcome(component.name, action, len(entries), size)
                except _Skip as skip:
                    outcome = Outcome(component.name, skip.action, note=str(skip))
                outcome.seconds = time.monotonic() - started
                outcomes.append(outcome)
            gobuild.clean(self.work)
            self.index["wheelhouse"] = pypi.WHEELHOUSE
            if not only:  # a partial build leaves the project's wheel as it was
                self.index["project_wheel"] = self.project_wheel()
        self.write_index()
        return outcomes

    def project_wheel(self) -> str:
        """The project's own wheel (built from this checkout, so not in the lock)."""
        out = self.bundle / pypi.WHEELHOUSE
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("shopping_data_pipeline-*.whl"):
            old.unlink()
        pip_wheel(REPO_ROOT, out)
        shutil.rmtree(REPO_ROOT / "build", ignore_errors=True)
        return f"{pypi.WHEELHOUSE}/{next(out.glob('shopping_data_pipeline-*.whl')).name}"

    def write_index(self) -> None:
        path = self.bundle / INDEX_FILE
        if path.exists():  # a partial build (--component) keeps what earlier builds recorded
            previous = yaml.safe_load(path.read_text()) or {}
            for key in ("binaries", "jars", "built_wheels"):
                self.index[key] = {**previous.get(key, {}), **self.index[key]}
            self.index = {**previous, **self.index}
        path.write_text(yaml.safe_dump(self.index, sort_keys=True), encoding="utf-8")


class _Skip(Exception):
    def __init__(self, note: str, keep_action: str = "skipped"):
        super().__init__(note)
        self.action = keep_action


def pip_wheel(source: Path, out: Path, *options: str) -> None:
    """A wheel of source (a directory or an sdist) into out, with this virtualenv's setuptools."""
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
           *options, "--wheel-dir", str(out), str(source)]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise LockError(f"building a wheel of {source.name} failed:\n{result.stderr}")


def missing_packages(packages: list[str]) -> list[str]:
    """Debian packages not installed here (dpkg-query), in manifest order."""
    if not shutil.which("dpkg-query"):
        return list(packages)
    missing = []
    for package in packages:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
        )
        if "install ok installed" not in result.stdout:
            missing.append(package)
    return missing
