"""The VMs' base image, built here from Debian's mirror: no downloaded cloud image.

One ext4 file system with no partition table and no boot loader, booted by libvirt with the
kernel and initrd written to libvirt's boot directory, so the build needs neither loop devices
nor a VM. It is the container hosts' base (the same packages, network and apt proxy) plus a
kernel; every VM trusts the project's SSH key and takes its address and name from the libvirt
network's DHCP.
"""

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from sdp.hosts.nspawn import BASE_PACKAGES, write_apt_proxy_conf
from sdp.processes import ServiceError

RELEASE = "bookworm"  # what the roles target (common's preflight checks it)
VM_PACKAGES = [*BASE_PACKAGES, "linux-image-amd64", "initramfs-tools", "udev", "e2fsprogs"]
TOOLS = {"mmdebstrap": "mmdebstrap", "mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils"}
# Room for the packages the roles install; each VM's volume is larger (the spec's disk) and
# the file system grows to it on boot.
FILESYSTEM_SIZE = "3G"

FIRSTBOOT_UNIT = """\
[Unit]
Description=Per-machine SSH host keys; root file system grown to its volume
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
ExecStart=/sbin/resize2fs /dev/vda

[Install]
WantedBy=multi-user.target
"""


def boot_dir() -> Path:
    """Where the kernel and initrd go: QEMU runs as libvirt's unprivileged user and must read
    them, which it cannot below a 0700 home (the cache): "could not open kernel file ...:
    Permission denied" (measured). libvirt's own directory for boot files, or $SDP_VM_BOOT_DIR."""
    return Path(os.environ.get("SDP_VM_BOOT_DIR", "/var/lib/libvirt/boot"))


def image_files(disk: Path) -> dict[str, Path]:
    """The qcow2, the same disk as a Vagrant box beside it, and its kernel and initrd."""
    return {
        "disk": disk,
        "kernel": boot_dir() / disk.with_suffix(".vmlinuz").name,
        "initrd": boot_dir() / disk.with_suffix(".initrd").name,
        "box": disk.with_suffix(".box"),
    }


def configure_root(root: Path, control_node: str, public_key: str) -> None:
    """Machine-independent settings; what differs per VM comes from DHCP on first boot."""
    (root / "etc" / "fstab").write_text("/dev/vda / ext4 defaults,errors=remount-ro 0 1\n")
    # No static name: systemd-networkd sets the one the network's DHCP reservation carries.
    (root / "etc" / "hostname").unlink(missing_ok=True)
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost\n")
    network = root / "etc" / "systemd" / "network"
    network.mkdir(parents=True, exist_ok=True)
    # Last in order: a NIC Vagrant configures statically (50-vagrant-*) keeps its address.
    (network / "99-dhcp.network").write_text(
        "[Match]\nName=en* eth*\n[Network]\nDHCP=ipv4\n[DHCPv4]\nUseHostname=yes\n"
    )
    write_apt_proxy_conf(root, control_node)
    ssh = root / "root" / ".ssh"
    ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh / "authorized_keys").write_text(public_key)
    # Every VM would share the build's host keys otherwise.
    for key in (root / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()
    system = root / "etc" / "systemd" / "system"
    (system / "sdp-firstboot.service").write_text(FIRSTBOOT_UNIT)
    units = {
        "sdp-firstboot.service": "/etc/systemd/system",
        "systemd-networkd.service": "/lib/systemd/system",
    }
    for unit, lib in units.items():
        link = system / "multi-user.target.wants" / unit
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(f"{lib}/{unit}")


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ServiceError(f"{what} failed ({' '.join(cmd)}):\n{result.stderr.strip()[-2000:]}")


def _box(disk: Path, work: Path, box: Path) -> None:
    """A vagrant-libvirt box: the qcow2 as box.img, and its metadata. The project's Vagrantfile
    sets the kernel boot."""
    size_gib = int(FILESYSTEM_SIZE.removesuffix("G"))
    metadata = work / "metadata.json"
    metadata.write_text(
        f'{{"provider": "libvirt", "format": "qcow2", "virtual_size": {size_gib}}}\n'
    )
    with tarfile.open(box, "w") as tar:
        tar.add(metadata, "metadata.json")
        tar.add(disk, "box.img")


def build(disk: Path, release: str, control_node: str, public_key: str) -> dict[str, Path]:
    """Builds every file of image_files(disk); the disk is moved into place last, so its
    presence means a complete build."""
    if os.geteuid() != 0:  # mkfs.ext4 -d copies ownership: the tree must belong to root
        raise ServiceError("building the image needs root (mmdebstrap in root mode)")
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        raise ServiceError(f"missing Debian packages: {' '.join(missing)} (apt-get install them)")
    files = image_files(disk)
    disk.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=disk.parent, prefix=".image-") as tmp:
        work = Path(tmp)
        built = {name: work / path.name for name, path in files.items()}
        root = work / "root"
        packages = ",".join(VM_PACKAGES)
        _run(
            ["mmdebstrap", "--variant=minbase", f"--include={packages}", release, str(root)],
            "installing the root file system",
        )
        configure_root(root, control_node, public_key)
        # initramfs-tools keeps versioned names; libvirt and Vagrant want fixed paths.
        shutil.copy(max((root / "boot").glob("vmlinuz-*")), built["kernel"])
        shutil.copy(max((root / "boot").glob("initrd.img-*")), built["initrd"])
        raw = work / "root.raw"
        _run(
            ["mkfs.ext4", "-q", "-L", "root", "-d", str(root), str(raw), FILESYSTEM_SIZE],
            "creating the file system",
        )
        _run(
            ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(built["disk"])],
            "converting to qcow2",
        )
        _box(built["disk"], work, built["box"])
        files["kernel"].parent.mkdir(parents=True, exist_ok=True)
        for name in ("kernel", "initrd", "box", "disk"):
            shutil.move(built[name], files[name])  # the boot files may be on another file system
    return files
