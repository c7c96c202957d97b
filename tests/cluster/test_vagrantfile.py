"""The Vagrantfile defines the spec's machines, evaluated with a stub of Vagrant (needs ruby)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sdp.cluster.spec import load_cluster
from sdp.paths import REPO_ROOT

RUBY = shutil.which("ruby")
STUB = Path(__file__).with_name("vagrant_stub.rb")
pytestmark = pytest.mark.skipif(RUBY is None, reason="no ruby (make prereqs installs it)")


def _evaluate(profile: str) -> dict:
    sdp = Path(sys.executable).with_name("sdp")  # the interpreter's environment, as Ansible's tools
    env = {"PATH": "/usr/bin:/bin", "SDP_PROFILE": profile, "SDP": str(sdp)}
    result = subprocess.run([RUBY, str(STUB), str(REPO_ROOT / "Vagrantfile")], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_vagrantfile_parses():
    result = subprocess.run([RUBY, "-c", str(REPO_ROOT / "Vagrantfile")], capture_output=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("profile", ["small", "full"])
def test_every_host_of_the_spec_is_a_machine(profile):
    config = _evaluate(profile)
    machines = {m["args"][0]: m["config"]["vm"] for m in config["vm"]["define"]}
    hosts = load_cluster(profile).hosts
    assert list(machines) == [h.name for h in hosts]
    for host in hosts:
        vm = machines[host.name]
        (network,) = vm["network"]
        assert network["kwargs"]["ip"] == host.address
        assert network["kwargs"]["libvirt__always_destroy"] is False
        (provider,) = vm["provider"]
        assert provider["config"] == {
            "cpus": host.size.vcpu, "memory": host.size.memory,
            "machine_virtual_size": host.size.disk,
        }  # fmt: skip


def test_the_libvirt_settings_follow_the_detected_accelerator():
    (provider,) = _evaluate("small")["vm"]["provider"]
    lv = provider["config"]
    assert lv["driver"] in ("kvm", "qemu")
    assert (lv["cpu_mode"] == "host-passthrough") == (lv["driver"] == "kvm")
    assert lv["management_network_keep"] is True
