"""The VM host's preparation: opt-in Debian packages, /dev/kvm as udev would leave it."""

import grp
import os

import pytest

from sdp.cluster.vmhost import kvm_device
from tests.conftest import sdp


def test_vm_packages_are_opt_in():
    default = sdp("artifacts", "host-deps")
    assert "vagrant" not in default.stdout + default.stderr
    chosen = sdp("artifacts", "host-deps", "--component", "vm-host")
    assert "vagrant" in chosen.stdout + chosen.stderr


def test_an_unknown_component_is_named():
    result = sdp("artifacts", "host-deps", "--component", "vm-hots")
    assert result.returncode == 2
    assert "vm-hots" in result.stdout + result.stderr


def test_kvm_device_gets_group_kvm_0660(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    try:
        kvm = grp.getgrnam("kvm").gr_gid
    except KeyError:
        pytest.skip("no kvm group on this machine")
    dev = tmp_path / "kvm"
    dev.touch(mode=0o600)
    kvm_device(dev)
    assert (dev.stat().st_gid, dev.stat().st_mode & 0o777) == (kvm, 0o660)
