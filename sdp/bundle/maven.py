"""Maven jars: resolving a component's jars into lock entries (with mvn), and their bundle paths."""

import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from sdp.bundle.lockfile import LockEntry, LockError, sha256_file
from sdp.bundle.manifest import Component

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


def parse_coordinate(coordinate: str) -> tuple[str, str, str]:
    parts = coordinate.split(":")
    if len(parts) != 3 or not all(parts):
        raise LockError(f"maven coordinate {coordinate!r} is not group:artifact:version")
    return parts[0], parts[1], parts[2]


def repository_path(coordinate: str) -> str:
    """group:artifact:version -> the jar's path in a Maven repository layout."""
    group, artifact, version = parse_coordinate(coordinate)
    return f"{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar"


def bundle_path(repo_path: str) -> str:
    return f"maven/{repo_path}"


def resolution_pom(component: Component) -> str:
    """A throwaway pom whose dependencies are the component's jars (closure only if transitive)."""
    exclude_all = (
        ""
        if component.get("transitive")
        else (
            "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>"
        )
    )
    deps = []
    for coordinate in component.maven_artifacts:
        group, artifact, version = (escape(p) for p in parse_coordinate(coordinate))
        deps.append(
            f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version>{exclude_all}</dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>sdp.lock</groupId><artifactId>{escape(component.name)}</artifactId>"
        "<version>0</version><packaging>pom</packaging>"
        f"<dependencies>{''.join(deps)}</dependencies></project>"
    )


def resolve(component: Component, repository: str, local_repo: Path) -> list[LockEntry]:
    """Resolve the component's jars with mvn and return one lock entry per jar."""
    with tempfile.TemporaryDirectory(prefix=f"sdp-mvn-{component.name}-") as tmp:
        project = Path(tmp)
        (project / "pom.xml").write_text(resolution_pom(component), encoding="utf-8")
        out = project / "jars"
        cmd = [
            "mvn",
            "-B",
            "-q",
            f"-Dmaven.repo.local={local_repo}",
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            "-DincludeScope=runtime",
            "-Dmdep.useRepositoryLayout=true",
            f"-DoutputDirectory={out}",
        ]
        result = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
        if result.returncode != 0:
            raise LockError(
                f"mvn could not resolve {component.name}:\n{result.stdout}{result.stderr}"
            )
        entries = []
        for jar in sorted(out.rglob("*.jar")):
            rel = jar.relative_to(out).as_posix()
            entries.append(
                LockEntry(
                    path=bundle_path(rel),
                    component=component.name,
                    sha256=sha256_file(jar),
                    size=jar.stat().st_size,
                    url=f"{repository}/{rel}",
                )
            )
    if not entries:
        raise LockError(f"mvn resolved no jars for {component.name}")
    return entries
