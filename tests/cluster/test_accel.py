"""KVM only where it works: kvm-pvm (this build machine) and an unusable /dev/kvm mean TCG."""

from sdp.cluster.accel import KVM, TCG, detect


def test_kvm_when_the_device_opens(tmp_path):
    dev = tmp_path / "kvm"
    dev.write_text("")
    assert detect(dev, tmp_path / "modules") == KVM


def test_tcg_without_the_device(tmp_path):
    assert detect(tmp_path / "missing", tmp_path / "modules") == TCG


def test_tcg_under_kvm_pvm(tmp_path):
    dev = tmp_path / "kvm"
    dev.write_text("")
    (tmp_path / "modules" / "kvm_pvm").mkdir(parents=True)
    assert detect(dev, tmp_path / "modules") == TCG
    assert TCG.as_vars() == {"domain_type": "qemu", "cpu_model": "Nehalem"}
