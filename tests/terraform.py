"""Terraform (or OpenTofu) as the tests run it: offline, from the bundle's provider mirror."""

import shutil
import subprocess
from pathlib import Path

import pytest

from sdp.bundle.layout import index
from sdp.bundle.lockfile import LockError
from sdp.bundle.terraform import cli_config, executable
from sdp.paths import REPO_ROOT, bundle_dir

TERRAFORM_DIR = REPO_ROOT / "terraform"
MIRROR = bundle_dir() / "terraform-providers"


def terraform() -> str:
    """terraform or tofu from PATH, else the OpenTofu `make artifacts` built where neither is."""
    try:
        return str(executable(index().get("binaries", {}), bundle_dir()))
    except LockError as exc:
        pytest.fail(str(exc))


def write_rc(path: Path) -> Path:
    """A CLI configuration installing providers from the mirror only."""
    path.write_text(cli_config(MIRROR))
    return path


def init_copy(work: Path, home: Path) -> tuple[dict, str]:
    """terraform/'s code copied to work (init's .terraform/, the lock file and any state stay out
    of the clone; a state already in work stays), initialised from the mirror: the keyword
    arguments of `run` there, and init's output."""
    skip = shutil.ignore_patterns(".terraform*", "*.tfvars*", "*.tfstate*")
    shutil.copytree(TERRAFORM_DIR, work, ignore=skip, dirs_exist_ok=True)
    tf = {"cwd": work, "home": home, "rc": write_rc(home / "terraform.rc")}
    return tf, run("init", "-input=false", **tf)


def run(*args: str, cwd: Path, home: Path, rc: Path | None = None, timeout: float = 300) -> str:
    """terraform ARGS in cwd, which must exit 0; its output."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "TF_CLI_CONFIG_FILE": str(rc or "/dev/null"),
    }
    result = subprocess.run([terraform(), *args, "-no-color"], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    return result.stdout
