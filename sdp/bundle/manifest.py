"""Reading artifacts/manifest.yml: components, their versions and what they are made from."""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sdp.paths import MANIFEST_FILE

KINDS = {"maven", "kafka-dist", "go", "terraform-provider", "pypi", "tarball", "apt"}
_REF = re.compile(r"\{([a-z0-9_]+)\}")


class ManifestError(ValueError):
    """The manifest is malformed; the message names the component and the key."""


@dataclass(frozen=True)
class Component:
    name: str
    kind: str
    version: str
    spec: dict[str, Any] = field(repr=False)

    def get(self, key: str, default: Any = None) -> Any:
        return self.spec.get(key, default)

    @property
    def maven_artifacts(self) -> list[str]:
        return list(self.spec.get("artifacts", []))


@dataclass(frozen=True)
class Manifest:
    maven_repository: str
    pypi_index: str
    python: str
    components: dict[str, Component]

    def __getitem__(self, name: str) -> Component:
        try:
            return self.components[name]
        except KeyError:
            known = ", ".join(sorted(self.components))
            raise ManifestError(f"no component {name!r} in the manifest (known: {known})") from None

    def of_kind(self, *kinds: str) -> list[Component]:
        return [c for c in self.components.values() if c.kind in kinds]


def _substitute(value: Any, refs: dict[str, str], where: str) -> Any:
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in refs:
                raise ManifestError(f"{where}: unknown reference {{{key}}} in {value!r}")
            return refs[key]

        return _REF.sub(repl, value)
    if isinstance(value, list):
        return [_substitute(v, refs, where) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, refs, f"{where}.{k}") for k, v in value.items()}
    return value


def parse_manifest(raw: dict[str, Any]) -> Manifest:
    """Validate the raw YAML and resolve {version}/{component} references."""
    if not isinstance(raw, dict) or not isinstance(raw.get("components"), dict):
        raise ManifestError("manifest: top-level 'components' mapping is missing")
    raw_components: dict[str, dict[str, Any]] = raw["components"]
    for name, spec in raw_components.items():
        if not isinstance(spec, dict):
            raise ManifestError(f"components.{name}: expected a mapping, got {type(spec).__name__}")
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ManifestError(f"components.{name}.kind: {kind!r} is not one of {sorted(KINDS)}")
    # Versions may refer to other components' versions, so resolve them first (two passes cover
    # one level of indirection, which is all the manifest uses).
    versions = {n.replace("-", "_"): str(s.get("version", "")) for n, s in raw_components.items()}
    for _ in range(2):
        versions = {
            n: _substitute(v, versions, f"components.{n}.version") for n, v in versions.items()
        }
    components = {}
    for name, spec in raw_components.items():
        version = versions[name.replace("-", "_")]
        refs = {**versions, "version": version}
        resolved = _substitute(
            {k: v for k, v in spec.items() if k != "version"}, refs, f"components.{name}"
        )
        components[name] = Component(name=name, kind=spec["kind"], version=version, spec=resolved)
    return Manifest(
        maven_repository=str(raw.get("maven_repository", "https://repo1.maven.org/maven2")).rstrip(
            "/"
        ),
        pypi_index=str(raw.get("pypi_index", "https://pypi.org/simple")),
        python=str(raw.get("python", "3.11")),
        components=components,
    )


def load_manifest(path: Path = MANIFEST_FILE) -> Manifest:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"manifest not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from None
    return parse_manifest(raw)
