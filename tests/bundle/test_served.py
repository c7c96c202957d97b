"""What the roles install from an optional tarball component (Grafana): its locked file once a
build was given one, nothing (not an error) while the bundle lacks it."""

import importlib.util

import pytest
from ansible.errors import AnsibleLookupError

from sdp.bundle import layout, served
from sdp.bundle.build import Builder
from sdp.bundle.lockfile import Lock, LockEntry, LockError, sha256_file
from sdp.bundle.manifest import ManifestError, parse_manifest
from sdp.paths import REPO_ROOT

BYTES = b"a tarball someone downloaded and locked"
PATH = "tool/tool-2.tar.gz"


def lookup_plugin():
    path = REPO_ROOT / "roles" / "_platform" / "lookup_plugins" / "sdp.py"
    spec = importlib.util.spec_from_file_location("sdp_lookup", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LookupModule()


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    """An empty bundle in SDP_CACHE whose manifest has an optional tarball `tool` (locked) and a
    required one `base`; build(env=FILE) runs `sdp artifacts build --component tool`."""
    manifest = parse_manifest(
        {
            "components": {
                name: {
                    "kind": "tarball",
                    "version": "2",
                    "optional": name == "tool",
                    "env": "SDP_TEST_TOOL_TARBALL",
                    "upstream": {"url": f"http://127.0.0.1:9/{name}-{{version}}.tar.gz"},
                }
                for name in ("tool", "base")
            }
        }
    )
    lock = Lock({PATH: LockEntry(PATH, "tool", sha256_file_of(tmp_path, BYTES))})
    monkeypatch.setenv("SDP_CACHE", str(tmp_path))  # the bundle is tmp_path/bundle
    monkeypatch.setattr(served, "load_manifest", lambda: manifest)
    monkeypatch.setattr(served, "load_lock", lambda: lock)

    def build(env: str | None = None):
        if env:
            monkeypatch.setenv("SDP_TEST_TOOL_TARBALL", env)
        else:
            monkeypatch.delenv("SDP_TEST_TOOL_TARBALL", raising=False)
        Builder(manifest, lock, tmp_path / "bundle", tmp_path / "work").run(["tool"])
        layout.index.cache_clear()

    layout.index.cache_clear()
    yield build, lock, tmp_path
    layout.index.cache_clear()


def sha256_file_of(tmp_path, data: bytes) -> str:
    source = tmp_path / "given.tar.gz"
    source.write_bytes(data)
    return sha256_file(source)


def test_an_optional_tarball_the_build_skipped_is_an_empty_list(bundle):
    build, _, _ = bundle
    build()  # no SDP_TEST_TOOL_TARBALL, no --source upstream: skipped
    assert served.tarball("tool") == []


def test_a_given_tarball_is_its_locked_entry_and_stays_when_a_later_build_is_not_given_it(bundle):
    build, _, tmp_path = bundle
    build(env=str(tmp_path / "given.tar.gz"))
    entry = {"path": PATH, "name": "tool-2.tar.gz", "sha256": sha256_file_of(tmp_path, BYTES)}
    assert served.tarball("tool") == [entry]
    build()  # the next `make artifacts` without the variable keeps what the bundle holds
    assert served.tarball("tool") == [entry]


def test_no_lock_entry_or_no_file_means_not_in_the_bundle(bundle):
    build, lock, tmp_path = bundle
    build(env=str(tmp_path / "given.tar.gz"))
    (tmp_path / "bundle" / PATH).unlink()
    assert served.tarball("tool") == []
    build(env=str(tmp_path / "given.tar.gz"))
    del lock.entries[PATH]  # re-locked for another version: the index's file is no longer locked
    assert served.tarball("tool") == []


def test_a_required_tarball_or_a_typo_is_an_error(bundle):
    build, _, _ = bundle
    build()
    with pytest.raises(LockError, match="no tarball of base"):
        served.tarball("base")
    with pytest.raises(ManifestError, match="no component 'grafna'"):
        served.tarball("grafna")


def test_the_lookup_kind_gives_the_list_and_names_a_typo(bundle):
    build, _, tmp_path = bundle
    build()
    assert lookup_plugin().run(["tarball", "tool"], {}) == []
    build(env=str(tmp_path / "given.tar.gz"))
    assert [e["name"] for e in lookup_plugin().run(["tarball", "tool"], {})] == ["tool-2.tar.gz"]
    with pytest.raises(AnsibleLookupError, match="grafna"):
        lookup_plugin().run(["tarball", "grafna"], {})
