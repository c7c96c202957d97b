"""`sdp cluster`: what Ansible, Vagrant and Terraform take from the spec; the VMs' image."""

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sdp.cluster import accel
from sdp.cluster.image import RELEASE, build, image_files
from sdp.cluster.inventory import render
from sdp.cluster.spec import CLUSTER_FILE, Cluster, SpecError, load_cluster
from sdp.hosts.nspawn import (
    APT_PROXY_PORT,
    ARTIFACT_PORT,
    ContainerHosts,
    HostsSpec,
    ensure_ssh_key,
    ssh_key_path,
    state_dir,
)
from sdp.paths import work_dir
from sdp.processes import ServiceError

app = typer.Typer(no_args_is_help=True, help="The multi-host cluster spec (cluster.yml).")
console = Console(stderr=True)

ProfileOpt = Annotated[str, typer.Option("--profile", "-p", help="a profile of cluster.yml")]
SpecOpt = Annotated[Path, typer.Option("--spec", help="the cluster spec")]


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _cluster(profile: str, spec: Path) -> Cluster:
    try:
        return load_cluster(profile, spec)
    except SpecError as exc:
        raise _fail(str(exc)) from None


def image_path(cluster: Cluster) -> Path:
    """Where `sdp cluster image` writes the base image: the cache, outside the clone."""
    return work_dir() / "images" / f"{cluster.image}.qcow2"


@app.command()
def inventory(
    profile: ProfileOpt = "small",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file (default stdout)")
    ] = None,
    spec: SpecOpt = CLUSTER_FILE,
):
    """The Ansible inventory of a profile (VMs and container hosts alike)."""
    text = render(_cluster(profile, spec))
    if output is None:
        print(text, end="")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    console.print(f"wrote {output}")


def _network(cluster: Cluster, *fields: str) -> dict:
    return {field: getattr(cluster.network, field) for field in fields}


def _machines(cluster: Cluster) -> dict:
    """What the Vagrantfile builds: the network, the image's files and the key it trusts, the
    accelerator, the hosts."""
    return {
        "network": _network(cluster, "name", "bridge", "cidr", "gateway", "address", "netmask"),
        "image": {name: str(path) for name, path in image_files(image_path(cluster)).items()},
        "ssh_key": str(ssh_key_path(state_dir())),
        "accelerator": accel.detect().as_vars(),
        "hosts": [
            {
                "name": h.name,
                "address": h.address,
                "vcpu": h.size.vcpu,
                "memory": h.size.memory,
                "disk": h.size.disk,
                "groups": list(h.groups),
            }
            for h in cluster.hosts
        ],
    }


@app.command()
def hosts(
    profile: ProfileOpt = "small",
    as_json: Annotated[bool, typer.Option("--json", help="for the Vagrantfile")] = False,
    spec: SpecOpt = CLUSTER_FILE,
):
    """The profile's machines (--json adds the network, image files and accelerator)."""
    cluster = _cluster(profile, spec)
    if as_json:
        print(json.dumps(_machines(cluster), indent=2))
        return
    table = Table(title=f"{cluster.name}: {len(cluster.hosts)} hosts on {cluster.network.cidr}")
    for column in ("host", "address", "vcpu", "MiB", "GiB", "groups"):
        table.add_column(column)
    for h in cluster.hosts:
        size = (str(h.size.vcpu), str(h.size.memory), str(h.size.disk))
        table.add_row(h.name, h.address, *size, " ".join(h.groups))
    Console().print(table)


@app.command()
def image(
    profile: ProfileOpt = "small",
    force: Annotated[bool, typer.Option(help="rebuild an existing image")] = False,
    spec: SpecOpt = CLUSTER_FILE,
):
    """Build the VMs' base image (mmdebstrap, a kernel, sshd, the project's SSH key); needs root."""
    cluster = _cluster(profile, spec)
    disk = image_path(cluster)
    if all(path.exists() for path in image_files(disk).values()) and not force:
        console.print(f"{disk} exists (--force rebuilds it)")
        return
    key = ssh_key_path(state_dir())
    started = time.monotonic()
    try:
        ensure_ssh_key(key)
        files = build(disk, RELEASE, cluster.network.address, key.with_suffix(".pub").read_text())
    except ServiceError as exc:
        raise _fail(str(exc)) from None
    for path in files.values():
        console.print(f"{path}  {path.stat().st_size // 2**20} MiB")
    console.print(f"built in {time.monotonic() - started:.0f} s")


@app.command()
def serve(profile: ProfileOpt = "small", spec: SpecOpt = CLUSTER_FILE):
    """The control node's side of the air gap, on the network's first address: the apt proxy
    (3142) and the artifact server (8765). `sdp hosts down` on the inventory stops them."""
    cluster = _cluster(profile, spec)
    network = HostsSpec(cluster.network.bridge, cluster.network.gateway, RELEASE, hosts=[])
    services = ContainerHosts(network, state_dir())
    try:
        services.serve()
    except ServiceError as exc:
        raise _fail(f"{exc} (is the network up?)") from None
    address = cluster.network.address
    console.print(f"apt proxy http://{address}:{APT_PROXY_PORT}")
    console.print(f"artifacts http://{address}:{ARTIFACT_PORT}")


@app.command("vm-host")
def vm_host():
    """Get this machine ready to run the VMs: libvirtd answering (started by hand where systemd
    is not PID 1), /dev/kvm as udev leaves it, vagrant-libvirt's default storage pool."""
    from sdp.cluster.vmhost import ensure_libvirt

    try:
        console.print(ensure_libvirt())
    except ServiceError as exc:
        raise _fail(str(exc)) from None
    console.print(f"accelerator: {accel.detect().domain_type}")


@app.command()
def tfvars(profile: ProfileOpt = "small", spec: SpecOpt = CLUSTER_FILE):
    """terraform.tfvars.json: the profile's network and machines, the image's files and this
    machine's accelerator. Terraform expands nothing itself: the hosts are this expansion's."""
    print(json.dumps(terraform_vars(_cluster(profile, spec)), indent=2))


def terraform_vars(cluster: Cluster) -> dict:
    files = image_files(image_path(cluster))
    return {
        "network": _network(cluster, "name", "bridge", "cidr"),
        "machines": {h.name: {"address": h.address, **asdict(h.size)} for h in cluster.hosts},
        "base_image": str(files["disk"]),
        "kernel": str(files["kernel"]),
        "initrd": str(files["initrd"]),
        **accel.detect().as_vars(),
    }
