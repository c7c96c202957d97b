"""Container hosts are separate machines: systemd as PID 1, sshd, their own addresses."""

import os
import shutil
import subprocess
import time

import pytest

from sdp.hosts.nspawn import ContainerHosts, parse_spec, state_dir, unused_bases
from sdp.processes import ServiceError, read_pid

SPEC = {
    "network": {"bridge": "sdptest0", "gateway": "10.231.250.1/24"},
    "hosts": [
        {"name": "t1", "address": "10.231.250.11"},
        {"name": "t2", "address": "10.231.250.12"},
    ],
}


@pytest.mark.parametrize(("change", "message"), [
    ({"network": {"gateway": "nope"}}, "network.gateway"),
    ({"hosts": [{"name": "a", "address": "10.9.9.9"}]}, "not a free address"),
    ({"hosts": [{"name": "a b", "address": "10.231.250.5"}]}, "not a host name"),
    ({"hosts": [{"name": "a", "address": "10.231.250.5"},
                {"name": "a", "address": "10.231.250.6"}]}, "unique"),
    ({"hosts": []}, r"no hosts\[\]"),
])  # fmt: skip
def test_bad_spec_is_named(change, message):
    with pytest.raises(ServiceError, match=message):
        parse_spec({**SPEC, **change})


def test_each_network_keeps_its_own_control_services(tmp_path):
    """`sdp hosts down` on one network leaves another's apt proxy alone (VMs on sdpbr1 lost
    theirs when the test cluster on sdpbr0 went down: measured)."""
    run = tmp_path / "run"
    run.mkdir()
    alive = str(os.getpid())
    for name, gateway in (("vm1", "10.232.0.1"), ("ct1", "10.231.250.1")):
        (run / f"{name}.pid").write_text(alive)
        (run / f"{name}.gateway").write_text(gateway + "\n")
    (run / "apt-proxy-10.232.0.1.pid").write_text(alive)
    hosts = ContainerHosts(parse_spec(SPEC), tmp_path)
    assert hosts.running() == ["ct1", "vm1"]
    assert hosts.running("10.232.0.1") == ["vm1"]
    assert hosts.service_pidfile("apt-proxy") == run / "apt-proxy-10.231.250.1.pid"


def test_a_pid_reused_after_the_pidfile_was_written_is_not_the_recorded_process(tmp_path):
    """A killed session leaves pidfiles behind; CI then took a live process that reused the
    artifact server's pid for the server, never started it, and the hosts' pip got connection
    refused (measured)."""
    pidfile = tmp_path / "artifacts-10.231.250.1.pid"
    pidfile.write_text(str(os.getpid()))
    assert read_pid(pidfile) == os.getpid()
    os.utime(pidfile, (time.time() - 3600, time.time() - 3600))
    assert read_pid(pidfile) is None
    assert not ContainerHosts(parse_spec(SPEC), tmp_path).running()


def test_a_new_base_removes_only_the_bases_no_host_was_made_on(tmp_path):
    bases = {name: tmp_path / f"base-bookworm-{name}" for name in ("old", "kept", "new")}
    for base in bases.values():
        (base / "etc").mkdir(parents=True)
    (tmp_path / "base-bookworm-new.tar").touch()
    (tmp_path / "hosts" / "h1").mkdir(parents=True)
    (tmp_path / "hosts" / "h1" / "lower").write_text(f"{bases['kept']}\n")
    assert unused_bases(tmp_path, keep=bases["new"]) == [bases["old"]]


needs_root = pytest.mark.skipif(
    os.geteuid() != 0
    or not all(shutil.which(t) for t in ("systemd-nspawn", "mmdebstrap", "apt-cacher-ng")),
    reason="needs root, systemd-nspawn, mmdebstrap, apt-cacher-ng (make prereqs installs them)",
)


@pytest.mark.integration
@needs_root
def test_two_hosts_boot_systemd_and_reach_each_other():
    # The platform's state directory: its base image (1.1 GB) serves these two hosts as well.
    hosts = ContainerHosts(parse_spec(SPEC), state_dir())
    hosts.destroy()  # fresh hosts, so the apt install below really goes through the proxy
    try:
        hosts.up()
        t1, t2 = hosts.spec.hosts

        def on(host, command):
            return subprocess.run(
                [*hosts.ssh_args(host), command], capture_output=True, text=True, timeout=60
            ).stdout.strip()

        assert on(t1, "cat /proc/1/comm") == "systemd"
        assert on(t2, "hostname") == "t2"
        assert (
            on(
                t1,
                f"python3 -c \"import socket; socket.create_connection(('{t2.address}', 22), 5)\""
                " && echo ok",
            )
            == "ok"
        )
        state = on(t1, "systemctl is-system-running --wait")
        assert state in ("running", "degraded"), state
        # No route out: Debian packages come through the apt proxy on the bridge address.
        on(t2, "apt-get -q update && apt-get install -y -q --no-install-recommends jq")
        assert on(t2, "echo '{\"a\": 1}' | jq .a") == "1"
    finally:
        stopped = hosts.down()
        hosts.destroy()  # 0.5 GB they wrote
        assert set(stopped) == {"t1", "t2"}
