"""The manifest and lock: parsing, references, and that the committed lock covers the manifest."""

import subprocess

import pytest
import yaml

from sdp.bundle.build import stale_reason
from sdp.bundle.lockfile import LockEntry, LockError, load_lock, parse_lock
from sdp.bundle.manifest import ManifestError, load_manifest, parse_manifest
from sdp.paths import MANIFEST_FILE


def test_references_resolve_to_other_components_versions():
    manifest = parse_manifest(
        {
            "components": {
                "spark": {
                    "kind": "pypi",
                    "version": "4.1.1",
                    "requirements": ["pyspark=={version}"],
                },
                "spark-kafka": {
                    "kind": "maven",
                    "version": "{spark}",
                    "artifacts": ["org.apache.spark:spark-sql-kafka-0-10_2.13:{spark}"],
                },
            }
        }
    )
    assert manifest["spark"].get("requirements") == ["pyspark==4.1.1"]
    assert manifest["spark-kafka"].version == "4.1.1"
    assert manifest["spark-kafka"].maven_artifacts == [
        "org.apache.spark:spark-sql-kafka-0-10_2.13:4.1.1"
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "components"),
        ({"components": {"x": {"kind": "rpm", "version": "1"}}}, "components.x.kind"),
        (
            {"components": {"x": {"kind": "maven", "version": "1", "artifacts": ["a:b:{nope}"]}}},
            "{nope}",
        ),
        ({"components": {"x": "1.0"}}, "components.x"),
    ],
)
def test_malformed_manifest_names_the_place(raw, message):
    with pytest.raises(ManifestError, match=message.replace("{", r"\{").replace("}", r"\}")):
        parse_manifest(raw)


def test_unknown_component_lists_the_known_ones():
    with pytest.raises(ManifestError, match=r"known: .*kafka"):
        load_manifest()["kafak"]


def test_project_manifest_is_consistent():
    manifest = load_manifest()
    assert manifest["spark-kafka"].version == manifest["spark"].version
    # hadoop-aws must match the Hadoop client jars inside pyspark.
    assert manifest["hadoop-aws"].version == manifest["spark"].get("hadoop")
    spark_minor = ".".join(manifest["spark"].version.split(".")[:2])
    assert any(
        f"iceberg-spark-runtime-{spark_minor}_2.13" in a
        for a in manifest["iceberg"].maven_artifacts
    )
    minio = manifest["minio"].version  # pseudo-version: v0.0.0-YYYYMMDDhhmmss-commit
    assert minio.split("-")[1] >= "20251015172955", "MinIO older than the CVE-2025-62506 fix"


def test_committed_lock_covers_every_component():
    manifest, lock = load_manifest(), load_lock()
    for component in manifest.components.values():
        if component.kind == "apt" or component.get("optional"):
            continue
        entries = lock.for_component(component.name)
        assert entries, f"{component.name} has no lock entries"
        assert stale_reason(component, entries) is None, component.name
    for entry in lock.entries.values():
        assert len(entry.sha256) == 64 and int(entry.sha256, 16) >= 0
        assert entry.url or entry.built_from, entry.path


def test_lock_round_trips_through_yaml():
    lock = load_lock()
    again = parse_lock(yaml.safe_load(lock.dump()))
    assert again.entries == lock.entries


def test_lock_rejects_a_short_checksum():
    with pytest.raises(LockError, match="64 hex"):
        parse_lock({"files": {"a.jar": {"component": "x", "sha256": "abc"}}})


def test_missing_lock_entry_says_how_to_lock_it():
    with pytest.raises(LockError, match="sdp artifacts lock --component grafana"):
        parse_lock({"files": {}}).require("grafana/x.tgz", "grafana")


def test_manifest_file_is_the_only_place_versions_are_pinned():
    """The Kafka and Spark versions appear in no other tracked text file than the manifest."""
    manifest = load_manifest()
    pinned = {f"kafka_2.13-{manifest['kafka'].version}", f"pyspark=={manifest['spark'].version}"}
    repo = MANIFEST_FILE.parent.parent
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    offenders = []
    for name in tracked:
        if name.startswith(("artifacts/", "tests/")) or not (repo / name).is_file():
            continue
        text = (repo / name).read_text(errors="ignore")
        offenders += [f"{name}: {p}" for p in pinned if p in text]
    assert offenders == []


def test_lock_entry_yaml_omits_empty_fields():
    entry = LockEntry(
        path="bin/x", component="x", sha256="0" * 64, built_from="m@v", built_with="go1"
    )
    assert entry.to_yaml() == {
        "component": "x",
        "sha256": "0" * 64,
        "built_from": "m@v",
        "built_with": "go1",
    }
