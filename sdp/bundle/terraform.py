"""Terraform/OpenTofu against the bundle's provider mirror, so `init` needs no registry."""

import shutil
from pathlib import Path

from sdp.bundle.lockfile import LockError


def cli_config(mirror: Path) -> str:
    """A CLI configuration (TF_CLI_CONFIG_FILE) installing every provider from the mirror."""
    return (
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{mirror}"\n    include = ["*/*/*"]\n  }}\n'
        '  direct {\n    exclude = ["*/*/*"]\n  }\n'
        "}\n"
    )


def executable(bundle_binaries: dict[str, str], bundle: Path) -> Path:
    """terraform or tofu from PATH, else the OpenTofu the bundle built."""
    for name in ("terraform", "tofu"):
        found = shutil.which(name)
        if found:
            return Path(found)
    if "opentofu" in bundle_binaries:
        return bundle / bundle_binaries["opentofu"]
    raise LockError(
        "neither terraform nor tofu is on PATH and the bundle has no OpenTofu; "
        "run `sdp artifacts build -c opentofu`"
    )
