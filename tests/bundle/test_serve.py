"""`sdp artifacts serve`: another host fetches the bundle's files over HTTP, byte for byte."""

import hashlib
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from sdp.bundle.lockfile import load_lock
from sdp.processes import free_port, port_open

pytestmark = pytest.mark.integration


def test_served_files_match_the_lock():
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sdp.cli",
            "artifacts",
            "serve",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_open(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        base = f"http://127.0.0.1:{port}"
        index = yaml.safe_load(urllib.request.urlopen(f"{base}/index.yml", timeout=10).read())
        entry = load_lock().require(index["kafka_tarball"], "kafka")
        body = urllib.request.urlopen(f"{base}/{entry.path}", timeout=60).read()
        assert hashlib.sha256(body).hexdigest() == entry.sha256
    finally:
        server.terminate()
        server.wait(10)
