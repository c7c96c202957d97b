"""The VM image's own configuration (the mmdebstrap build itself is not run by the tests)."""

from sdp.cluster.image import configure_root, image_files


def test_the_root_is_configured_for_any_machine(tmp_path):
    root = tmp_path / "root"
    for sub in ("etc/apt/apt.conf.d", "etc/ssh", "etc/systemd/system"):
        (root / sub).mkdir(parents=True)
    (root / "etc" / "hostname").write_text("builder\n")
    (root / "etc" / "ssh" / "ssh_host_ed25519_key").write_text("secret")
    configure_root(root, "10.232.0.1", "ssh-ed25519 AAAA test\n")
    assert not (root / "etc" / "hostname").exists()  # the name comes from DHCP
    assert not list((root / "etc" / "ssh").glob("ssh_host_*"))  # generated on first boot
    proxy = (root / "etc" / "apt" / "apt.conf.d" / "01sdp-proxy").read_text()
    assert "http://10.232.0.1:3142" in proxy
    assert (root / "root" / ".ssh" / "authorized_keys").read_text() == "ssh-ed25519 AAAA test\n"
    wants = root / "etc" / "systemd" / "system" / "multi-user.target.wants"
    assert {p.name for p in wants.iterdir()} == {
        "sdp-firstboot.service",
        "systemd-networkd.service",
    }
    assert "/dev/vda /" in (root / "etc" / "fstab").read_text()


def test_the_kernel_and_box_lie_beside_the_disk(tmp_path):
    files = image_files(tmp_path / "debian-12-sdp.qcow2")
    assert files["kernel"].name == "debian-12-sdp.vmlinuz"
    assert files["box"].parent == tmp_path
