"""What the roles install, as paths inside the served bundle with their locked sha256.

The Ansible lookup `sdp_bundle` is a thin wrapper over these, so the roles never repeat a
version, a file name or a checksum: the manifest, the lock and the bundle index stay the source.
"""

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator

from sdp.bundle.layout import index
from sdp.bundle.lockfile import LockError, load_lock
from sdp.bundle.manifest import load_manifest
from sdp.paths import bundle_dir


def _entries(paths: list[str]) -> list[dict]:
    lock = load_lock()
    out = []
    for path in paths:
        entry = lock.get(path)
        if entry is None:
            raise LockError(f"{path} is in the bundle index but not in artifacts/lock.yml")
        out.append({"path": path, "name": path.rsplit("/", 1)[-1], "sha256": entry.sha256})
    return out


def version(component: str) -> str:
    return str(load_manifest()[component].version)


def binary(name: str) -> dict:
    try:
        return _entries([index()["binaries"][name]])[0]
    except KeyError:
        raise LockError(f"the bundle has no binary {name!r}; run `make artifacts`") from None


def kafka_tarball() -> dict:
    return _entries([index()["kafka_tarball"]])[0]


def tarball(component: str) -> list[dict]:
    """A tarball component's file as [{path, name, sha256}], or [] for an optional one this bundle
    lacks: the build adds it only when given one (GRAFANA_TARBALL=FILE or --source upstream) that
    the lock has, so a bundle, lock or index without it means a platform without it."""
    optional = load_manifest()[component].get("optional")  # a typo: ManifestError
    path = index().get("tarballs", {}).get(component)
    if path and load_lock().get(path) and (bundle_dir() / path).is_file():
        return _entries([path])
    if not optional:
        raise LockError(f"the bundle has no tarball of {component}; run `make artifacts`")
    return []


def jars(*components: str) -> list[dict]:
    found = index()["jars"]
    missing = [c for c in components if c not in found]
    if missing:
        raise LockError(f"the bundle has no jars for {missing}; run `make artifacts`")
    return _entries([p for c in components for p in found[c]])


def wheels(component: str) -> list[dict]:
    """A component's Python distributions in the wheelhouse (for pip --require-hashes); an sdist
    the build made a wheel of is that wheel, with the sha256 the build recorded."""
    entries = load_lock().for_component(component)
    found = _entries([e.path for e in entries if e.path.startswith(index()["wheelhouse"] + "/")])
    built = index().get("built_wheels", {})
    return [
        {**built[f["path"]], "name": built[f["path"]]["path"].rsplit("/", 1)[-1]}
        if f["path"] in built
        else f
        for f in found
    ]


def apt_packages(component: str) -> list[str]:
    return list(load_manifest()[component].get("packages", []))


CONTROL_NODE = "control-node"  # the manifest's apt component for the control node itself


def host_apt_packages() -> list[str]:
    """Every Debian package some role installs on a host: the manifest's non-optional apt
    components but the control node's."""
    return sorted(
        {
            package
            for component in load_manifest().of_kind("apt")
            if not component.get("optional") and component.name != CONTROL_NODE
            for package in component.get("packages", [])
        }
    )


def http_server(bind: str, port: int) -> http.server.ThreadingHTTPServer:
    """The bundle over HTTP: the hosts download every artifact from it (checked by sha256)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(bundle_dir()))
    return http.server.ThreadingHTTPServer((bind, port), handler)


@contextlib.contextmanager
def serving(bind: str, port: int) -> Iterator[None]:
    """Serve the bundle in a thread for the duration of a block (a playbook run)."""
    with http_server(bind, port) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield
        finally:
            server.shutdown()
