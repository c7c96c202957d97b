"""Building a bundle from a lock: cached files are re-checked, corrupt ones are refused by name."""

import functools
import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sdp.bundle import jar_trim, kafka_dist, maven, pypi
from sdp.bundle.build import Builder
from sdp.bundle.lockfile import (
    ChecksumMismatch,
    Lock,
    LockEntry,
    LockError,
    load_lock,
    parse_lock,
    sha256_file,
)
from sdp.bundle.locking import Locker, verify_published_sha512
from sdp.bundle.manifest import load_manifest, parse_manifest
from sdp.cli import app

JAR = b"PK\x03\x04 not really a jar, but bytes with a known checksum" * 100


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def origin(tmp_path):
    """A directory of source files, served over HTTP on loopback."""
    root = tmp_path / "origin"
    (root / "g" / "a" / "1").mkdir(parents=True)
    (root / "g" / "a" / "1" / "a-1.jar").write_bytes(JAR)
    (root / "dl").mkdir()
    (root / "dl" / "tool-2.tar.gz").write_bytes(b"upstream tarball bytes")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def bundle_setup(origin, tmp_path):
    root, url = origin
    manifest = parse_manifest(
        {
            "maven_repository": url,
            "components": {
                "lib": {"kind": "maven", "version": "1", "artifacts": ["g:a:{version}"]},
                "tool": {
                    "kind": "tarball",
                    "version": "2",
                    "env": "SDP_TEST_TOOL_TARBALL",
                    "upstream": {"url": f"{url}/dl/tool-{{version}}.tar.gz"},
                },
            },
        }
    )
    lock = Lock(
        {
            "maven/g/a/1/a-1.jar": LockEntry(
                "maven/g/a/1/a-1.jar", "lib", sha(JAR), len(JAR), url=f"{url}/g/a/1/a-1.jar"
            ),
            "tool/tool-2.tar.gz": LockEntry(
                "tool/tool-2.tar.gz", "tool", sha(b"upstream tarball bytes")
            ),
        }
    )
    return manifest, lock, tmp_path / "bundle", tmp_path / "work", root


def make_builder(setup, **kwargs) -> Builder:
    manifest, lock, bundle, work, _ = setup
    return Builder(manifest, lock, bundle, work, **kwargs)


def actions(outcomes) -> dict[str, str]:
    return {o.component: o.action for o in outcomes}


def test_first_build_fetches_second_only_checks(bundle_setup):
    assert actions(make_builder(bundle_setup).run(["lib"])) == {"lib": "fetched"}
    assert actions(make_builder(bundle_setup).run(["lib"])) == {"lib": "cached"}


def test_truncated_cached_file_fails_naming_file_and_both_checksums(bundle_setup):
    bundle = bundle_setup[2]
    make_builder(bundle_setup).run(["lib"])
    jar = bundle / "maven/g/a/1/a-1.jar"
    jar.write_bytes(JAR[:100])
    with pytest.raises(ChecksumMismatch) as exc:
        make_builder(bundle_setup).run(["lib"])
    message = str(exc.value)
    assert str(jar) in message and sha(JAR) in message and sha(JAR[:100]) in message
    assert jar.read_bytes() == JAR[:100], "a failed check must not silently replace the file"
    assert actions(make_builder(bundle_setup, repair=True).run(["lib"])) == {"lib": "fetched"}
    assert jar.read_bytes() == JAR


def test_altered_source_never_reaches_the_bundle(bundle_setup):
    root, bundle = bundle_setup[4], bundle_setup[2]
    (root / "g/a/1/a-1.jar").write_bytes(JAR + b"tampered")
    with pytest.raises(ChecksumMismatch, match=sha(JAR + b"tampered")):
        make_builder(bundle_setup).run(["lib"])
    assert not list(bundle.rglob("a-1.jar*")), "nothing downstream may install from a bad download"


def test_stale_lock_is_reported_with_the_fix(bundle_setup):
    _, lock, bundle, work, _ = bundle_setup
    bumped = parse_manifest(
        {"components": {"lib": {"kind": "maven", "version": "2", "artifacts": ["g:a:{version}"]}}}
    )
    with pytest.raises(
        LockError, match=r"stale for lib: the manifest asks for g:a:2; run `sdp artifacts lock"
    ):
        Builder(bumped, lock, bundle, work).run()


def test_upstream_source_and_local_tarball_share_the_check(bundle_setup, tmp_path, monkeypatch):
    monkeypatch.delenv("SDP_TEST_TOOL_TARBALL", raising=False)
    assert actions(make_builder(bundle_setup).run(["tool"])) == {"tool": "skipped"}
    assert actions(make_builder(bundle_setup, source="upstream").run(["tool"])) == {
        "tool": "fetched"
    }
    (bundle_setup[2] / "tool/tool-2.tar.gz").unlink()
    wrong = tmp_path / "tool.tgz"
    wrong.write_bytes(b"someone else's tarball")
    monkeypatch.setenv("SDP_TEST_TOOL_TARBALL", str(wrong))
    with pytest.raises(ChecksumMismatch, match=sha(b"someone else's tarball")):
        make_builder(bundle_setup).run(["tool"])
    right = tmp_path / "tool-ok.tgz"
    right.write_bytes(b"upstream tarball bytes")
    monkeypatch.setenv("SDP_TEST_TOOL_TARBALL", str(right))
    assert actions(make_builder(bundle_setup).run(["tool"])) == {"tool": "fetched"}


def test_unknown_source_is_named():
    with pytest.raises(LockError, match="--source 'internet'"):
        Builder(
            parse_manifest({"components": {}}),
            Lock(),
            Path("/nonexistent"),
            Path("/nonexistent"),
            source="internet",
        )


def test_cli_verify_fails_on_a_corrupt_file_with_both_checksums(tmp_path, monkeypatch):
    lock = load_lock()
    entry = lock.for_component("postgresql-jdbc")[0]
    monkeypatch.setenv("SDP_CACHE", str(tmp_path))
    corrupt = tmp_path / "bundle" / entry.path
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"truncated")
    result = CliRunner().invoke(app, ["artifacts", "verify"])
    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert entry.sha256 in flat and sha(b"truncated") in flat and "postgresql" in flat


def test_kafka_distribution_is_reproducible(tmp_path):
    """Assembled twice from the same jars, the tarball has the same bytes (so it can be locked)."""
    component = load_manifest()["kafka"]
    jars = [LockEntry(f"maven/x/{n}.jar", "kafka", "0" * 64) for n in ("b", "a")]
    for e in jars:
        (tmp_path / e.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / e.path).write_bytes(e.path.encode())
    first, second = tmp_path / "1.tgz", tmp_path / "2.tgz"
    kafka_dist.assemble(component, jars, tmp_path, first)
    kafka_dist.assemble(component, list(reversed(jars)), tmp_path, second)
    assert first.read_bytes() == second.read_bytes()
    home = kafka_dist.unpack(first, tmp_path / "opt")
    assert (home / "libs" / "a.jar").exists()
    assert (home / "bin" / "kafka-storage.sh").stat().st_mode & 0o111


def test_published_sha512_is_checked(tmp_path, origin):
    root, url = origin
    file = tmp_path / "kafka.tgz"
    file.write_bytes(b"release bytes")
    digest = hashlib.sha512(b"release bytes").hexdigest().upper()
    # Apache's GPG-style layout: "name: XXXX XXXX ..." split over lines.
    spaced = " ".join(digest[i : i + 8] for i in range(0, len(digest), 8))
    (root / "ok.sha512").write_text(f"kafka.tgz: {spaced[:70]}\n{spaced[70:]}\n")
    (root / "bad.sha512").write_text(hashlib.sha512(b"other").hexdigest() + "  kafka.tgz\n")
    verify_published_sha512(file, f"{url}/ok.sha512", tmp_path)
    with pytest.raises(LockError, match="not the one published"):
        verify_published_sha512(file, f"{url}/bad.sha512", tmp_path)


def test_an_sdist_is_built_into_a_wheel_once_and_served_as_that_wheel(
    origin, tmp_path, monkeypatch
):
    import io
    import tarfile

    from sdp.bundle import layout, served

    root, url = origin
    files = {
        "pkg-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n",
        "pkg-1.0/setup.py": "import setuptools\nsetuptools.setup(name='pkg', version='1.0')\n",
        "pkg-1.0/pkg.py": "ANSWER = 42\n",
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    (root / "pkg-1.0.tar.gz").write_bytes(raw.getvalue())
    manifest = parse_manifest(
        {"components": {"py": {"kind": "pypi", "version": "1.0", "requirements": ["pkg==1.0"]}}}
    )
    sdist = "wheelhouse/pkg-1.0.tar.gz"
    lock = Lock({sdist: LockEntry(sdist, "py", sha(raw.getvalue()), url=f"{url}/pkg-1.0.tar.gz")})
    bundle = tmp_path / "bundle"
    Builder(manifest, lock, bundle, tmp_path / "work").run(only=["py"])
    built = yaml_index(bundle)["built_wheels"][sdist]
    wheel = bundle / built["path"]
    assert wheel.name == "pkg-1.0-py3-none-any.whl"
    assert built["sha256"] == sha(wheel.read_bytes())
    mtime = wheel.stat().st_mtime_ns
    Builder(manifest, lock, bundle, tmp_path / "work").run(only=["py"])
    assert wheel.stat().st_mtime_ns == mtime  # not built again

    monkeypatch.setattr(served, "load_lock", lambda: lock)
    monkeypatch.setattr(served, "index", lambda: yaml_index(bundle))
    assert served.wheels("py") == [{**built, "name": wheel.name}]

    monkeypatch.setenv("SDP_CACHE", str(tmp_path))  # tmp_path/bundle
    layout.index.cache_clear()
    wheel.write_bytes(b"altered")
    result = CliRunner().invoke(app, ["artifacts", "verify"])
    layout.index.cache_clear()
    assert result.exit_code == 1 and sha(b"altered") in " ".join(result.output.split())


def yaml_index(bundle: Path) -> dict:
    import yaml

    return yaml.safe_load((bundle / "index.yml").read_text())


def test_a_trimmed_jar_replaces_its_source_on_the_classpath(tmp_path):
    """`trim:` keeps the listed services and everything outside the dropped directory, gives the
    same bytes each time, and the index lists the trimmed jar where the source was."""
    services = "software/amazon/awssdk/services/"
    names = ["META-INF/MANIFEST.MF", "software/amazon/awssdk/core/Core.class"]
    names += [f"{services}{s}/{s.title()}Client.class" for s in ("s3", "ec2", "sts", "glue")]
    source = tmp_path / "bundle" / maven.bundle_path(maven.repository_path("g:sdk:1"))
    source.parent.mkdir(parents=True)
    with zipfile.ZipFile(source, "w") as jar:
        for name in names:
            jar.writestr(name, name * 50)
    rule = {"drop": services, "except": ["s3", "sts"]}
    spec = {"kind": "maven", "version": "1", "artifacts": ["g:sdk:1"], "trim": {"g:sdk:1": rule}}
    component = parse_manifest({"components": {"sdk": spec}})["sdk"]
    first, second = tmp_path / "1.jar", tmp_path / "2.jar"
    jar_trim.trim(source, first, rule)
    jar_trim.trim(source, second, rule)
    assert first.read_bytes() == second.read_bytes()
    assert zipfile.ZipFile(first).namelist() == [
        n for n in names if "ec2" not in n and "glue" not in n
    ]

    path = jar_trim.trimmed_path("g:sdk:1")
    origin = jar_trim.origin("g:sdk:1", rule)
    src = LockEntry(
        maven.bundle_path(maven.repository_path("g:sdk:1")), "sdk", sha256_file(source), url="-"
    )
    lock = Lock(
        {src.path: src, path: LockEntry(path, "sdk", sha256_file(first), built_from=origin)}
    )
    manifest = parse_manifest({"components": {"sdk": spec}})
    builder = Builder(manifest, lock, tmp_path / "bundle", tmp_path / "work")
    assert actions(builder.run(["sdk"])) == {"sdk": "built"}
    assert builder.index["jars"]["sdk"] == [path]
    assert (tmp_path / "bundle" / path).read_bytes() == first.read_bytes()
    assert not source.exists(), "no host installs the source: the cache does not keep it"
    again = Builder(manifest, lock, tmp_path / "bundle", tmp_path / "work")
    assert actions(again.run(["sdk"])) == {"sdk": "cached"}  # the source's url is never asked
    assert component.get("trim") == {"g:sdk:1": rule}

    spec["trim"]["g:sdk:1"] = {**rule, "except": ["s3"]}
    with pytest.raises(LockError, match=r"stale for sdk: locked g:sdk:1 without .* but s3, sts"):
        Builder(
            parse_manifest({"components": {"sdk": spec}}), lock, tmp_path / "bundle", tmp_path / "w"
        ).run(["sdk"])


def test_a_wheel_two_pypi_components_install_is_each_ones(tmp_path, monkeypatch):
    """numpy is Airflow's and the Spark jobs': locked once, installed by both (each host's pip
    runs with --require-hashes, so a file missing from a component's list fails its install)."""
    resolved = {"spark": ["numpy", "pyspark"], "airflow": ["airflow", "numpy"]}
    monkeypatch.setattr(
        pypi, "resolve", lambda c, index: [LockEntry(f"wheelhouse/{n}.whl", c.name, "0" * 64)
                                           for n in resolved[c.name]],
    )  # fmt: skip
    raw = {n: {"kind": "pypi", "requirements": resolved[n]} for n in resolved}
    manifest = parse_manifest({"components": raw})
    lock = Lock()
    builder = Builder(manifest, lock, tmp_path / "bundle", tmp_path / "work")
    Locker(builder, builder.console).lock_pypi(manifest.of_kind("pypi"))
    assert [e.path for e in lock.for_component("airflow")] == [
        "wheelhouse/airflow.whl", "wheelhouse/numpy.whl"
    ]  # fmt: skip
    assert [e.path for e in lock.for_component("spark")] == [
        "wheelhouse/numpy.whl", "wheelhouse/pyspark.whl"
    ]  # fmt: skip
    assert parse_lock(yaml.safe_load(lock.dump())).get("wheelhouse/numpy.whl").also == ["airflow"]
