"""KVM or TCG for the cluster's VMs: detected on the machine that runs them, never hard-coded."""

import os
from dataclasses import asdict, dataclass
from pathlib import Path

# kvm-pvm (KVM on a cloud guest without nested virtualisation) hangs stock Debian kernels.
PVM_MODULE = "kvm_pvm"


@dataclass(frozen=True)
class Accelerator:
    domain_type: str  # libvirt's <domain type>: kvm or qemu (TCG)
    cpu_model: str  # host-passthrough under KVM; a model TCG emulates otherwise

    def as_vars(self) -> dict:
        return asdict(self)


KVM = Accelerator("kvm", "host-passthrough")
# Nehalem: x86-64-v2 (SSE4.2, POPCNT), the baseline of NumPy 2.4's wheels, which the Spark and
# Airflow virtualenvs hold; under qemu64 importing numpy died of SIGILL (the Terraform VM run of
# 2026-12-07). TCG emulates it on any host.
TCG = Accelerator("qemu", "Nehalem")


def detect(dev: Path = Path("/dev/kvm"), modules: Path = Path("/sys/module")) -> Accelerator:
    """KVM when /dev/kvm opens read-write and is not kvm-pvm, else TCG."""
    if (modules / PVM_MODULE).exists():
        return TCG
    try:
        os.close(os.open(dev, os.O_RDWR))
    except OSError:
        return TCG
    return KVM
