"""`sdp artifacts lock`: record what each manifest entry produces, with sha256, in the lock.

Run by maintainers after editing artifacts/manifest.yml; `sdp artifacts build` then reproduces
exactly the locked files on any machine (or fails naming the file that differs).
"""

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from sdp.bundle import gobuild, jar_trim, kafka_dist, maven, pypi
from sdp.bundle.build import Builder, go_origin
from sdp.bundle.fetch import download
from sdp.bundle.lockfile import LockEntry, LockError, sha256_file
from sdp.bundle.manifest import Component


def entry_for(path: str, component: Component, file: Path, **origin: str) -> LockEntry:
    """A lock entry for a file at hand; origin is url= (fetched) or built_from=/built_with=."""
    return LockEntry(
        path=path,
        component=component.name,
        sha256=sha256_file(file),
        size=file.stat().st_size,
        **origin,
    )


def verify_published_sha512(file: Path, checksum_url: str, scratch: Path) -> None:
    """Apache publishes `<hex>  name` or a GPG-style multi-line digest in *.sha512."""
    sums = scratch / "published.sha512"
    download(checksum_url, sums)
    published = "".join(sums.read_text().split()).lower()
    digest = hashlib.sha512(file.read_bytes()).hexdigest()
    if digest not in published:
        raise LockError(f"{file.name}: sha512 {digest} is not the one published at {checksum_url}")


class Locker:
    def __init__(self, builder: Builder, console: Console):
        self.builder, self.console = builder, console
        self.manifest, self.lock, self.work = builder.manifest, builder.lock, builder.work
        self.scratch = self.work / "lock"

    def lock_maven(self, component: Component) -> list[LockEntry]:
        local_repo = self.scratch / "m2"  # deleted with the scratch: the jars are in the bundle
        jars = maven.resolve(component, self.manifest.maven_repository, local_repo)
        for entry in jars:  # mvn already downloaded them: copy rather than fetch again
            cached = local_repo / entry.path.removeprefix("maven/")
            self.builder.ensure(entry, lambda dest, src=cached: shutil.copyfile(src, dest))
        for coordinate, rule in jar_trim.trims(component).items():
            path = jar_trim.trimmed_path(coordinate)
            trimmed = self.scratch / path.rsplit("/", 1)[-1]
            source = self.builder.bundle / maven.bundle_path(maven.repository_path(coordinate))
            jar_trim.trim(source, trimmed, rule)
            origin = jar_trim.origin(coordinate, rule)
            jars.append(
                entry_for(
                    path, component, trimmed, built_from=origin, built_with=jar_trim.toolchain()
                )
            )
        return jars

    def lock_kafka(self, component: Component) -> list[LockEntry]:
        if self.builder.source == "upstream":
            upstream = component.get("upstream")
            file = self.scratch / Path(upstream["url"]).name
            download(upstream["url"], file, self.builder.progress)
            verify_published_sha512(file, upstream["checksum_url"], self.scratch)
            entry = entry_for(
                kafka_dist.upstream_path(component), component, file, url=upstream["url"]
            )
            kept = [e for e in self.lock.for_component(component.name) if e.path != entry.path]
            return [*kept, entry]
        jars = self.lock_maven(component)
        tgz = self.scratch / Path(kafka_dist.assembled_path(component)).name
        kafka_dist.assemble(component, jars, self.builder.bundle, tgz)
        dist = entry_for(
            kafka_dist.assembled_path(component),
            component,
            tgz,
            built_from=f"kafka-dist {component.version}",
            built_with="sdp.bundle.kafka_dist",
        )
        upstream = self.lock.get(kafka_dist.upstream_path(component))
        return [*jars, dist, *([upstream] if upstream else [])]

    def lock_go(self, component: Component) -> list[LockEntry]:
        binary = self.scratch / component.name
        gobuild.build(component, self.work, binary, self.work / "logs" / f"{component.name}.log")
        return [
            entry_for(
                gobuild.binary_path(component),
                component,
                binary,
                built_from=go_origin(component),
                built_with=gobuild.go_version(),
            )
        ]

    def lock_tarball(self, component: Component, file: Path | None) -> list[LockEntry]:
        url = component.get("upstream")["url"]
        path = f"{component.name}/{Path(url).name}"
        if file is None:
            if self.builder.source != "upstream":
                raise LockError(
                    f"locking {component.name} needs --file PATH (a copy whose checksum you "
                    f"verified against its publisher) or --source upstream"
                )
            file = self.scratch / Path(url).name
            download(url, file, self.builder.progress)
        return [entry_for(path, component, file, url=url)]

    def lock_pypi(self, components: list[Component]) -> None:
        """All PyPI components at once. A file several of them install (numpy: Airflow's and the
        Spark jobs') is locked once, under the first, naming the others in `also`: each host
        installs every file of its component with --require-hashes, so none may be missing."""
        entries: dict[str, LockEntry] = {}
        for component in components:
            for entry in pypi.resolve(component, self.manifest.pypi_index):
                first = entries.setdefault(entry.path, entry)
                if first is not entry:
                    entries[entry.path] = replace(first, also=[*(first.also or []), component.name])
        for component in components:
            owned = [e for e in entries.values() if e.component == component.name]
            self.lock.replace_component(component.name, owned)

    def run(self, names: list[str] | None, file: Path | None = None) -> None:
        self.scratch.mkdir(parents=True, exist_ok=True)
        targets = (
            [self.manifest[n] for n in names] if names else list(self.manifest.components.values())
        )
        with self.builder.progress:
            pypi_targets = [c for c in targets if c.kind == "pypi"]
            if pypi_targets:
                # Shared files: re-resolve every PyPI component so none loses a file it needs.
                self.console.print("resolving PyPI components with pip")
                self.lock_pypi(self.manifest.of_kind("pypi"))
            for component in targets:
                entries = self.lock_one(component, file)
                if entries is not None:
                    self.lock.replace_component(component.name, entries)
        shutil.rmtree(self.scratch, ignore_errors=True)
        gobuild.clean(self.work)

    def lock_one(self, component: Component, file: Path | None) -> list[LockEntry] | None:
        kind = component.kind
        if kind in ("pypi", "apt"):
            return None
        if kind == "go" and any(shutil.which(t) for t in component.get("optional_if_on_path", [])):
            self.console.print(
                f"[yellow]{component.name}: its alternative is on PATH; locking it anyway"
            )
        self.console.print(f"locking {component.name} ({kind})")
        if kind == "maven":
            return self.lock_maven(component)
        if kind == "kafka-dist":
            return self.lock_kafka(component)
        if kind in ("go", "terraform-provider"):
            return self.lock_go(component)
        if kind == "tarball":
            if file is None and self.builder.source != "upstream" and component.get("optional"):
                self.console.print(
                    f"  {component.name}: optional, skipped (give --file or --source upstream)"
                )
                return None
            return self.lock_tarball(component, file)
        raise LockError(f"cannot lock kind {kind}")
