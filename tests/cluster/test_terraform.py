"""Terraform derives the same hosts and inventory as `sdp cluster`, and its code is well-formed.

The equality test needs only terraform (the spec module has no providers); validate needs the
libvirt provider from the bundle's mirror (`make artifacts`).
"""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sdp.bundle.layout import index
from sdp.bundle.lockfile import LockError
from sdp.bundle.manifest import load_manifest
from sdp.bundle.terraform import cli_config, executable
from sdp.cluster.inventory import render
from sdp.cluster.spec import CLUSTER_FILE, parse_cluster
from sdp.paths import REPO_ROOT, bundle_dir

TERRAFORM_DIR = REPO_ROOT / "terraform"
MIRROR = bundle_dir() / "terraform-providers"


def terraform() -> str:
    """terraform or tofu from PATH, else the OpenTofu `make artifacts` built where neither is."""
    try:
        return str(executable(index().get("binaries", {}), bundle_dir()))
    except LockError as exc:
        pytest.fail(str(exc))


def _terraform(*args: str, cwd: Path, home: Path, rc: Path | None = None, stdin: str = "",
               ok: bool = True):  # fmt: skip
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "TF_CLI_CONFIG_FILE": str(rc or "/dev/null"),
    }
    result = subprocess.run([terraform(), *args, "-no-color"], cwd=cwd, env=env, input=stdin,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
    return result.stdout if ok else result.stderr  # the value, or why there is none


def _console(spec: Path, profile: str, expression: str, home: Path, ok: bool = True) -> str:
    """Evaluates an expression in the spec module, as Terraform would for this spec."""
    variables = (f"-var=spec_file={spec}", f"-var=profile={profile}")
    return _terraform("console", *variables, cwd=TERRAFORM_DIR / "spec", home=home,
                      stdin=expression + "\n", ok=ok)  # fmt: skip


def _scaled(raw: dict) -> dict:
    pools = raw["profiles"]["full"]["pools"]
    next(p for p in pools if p["name"] == "sdp-spark-worker")["count"] = 5
    return raw


@pytest.mark.parametrize(
    ("profile", "change"),
    [("small", None), ("full", None), ("full", _scaled)],
    ids=["small", "full", "full-5-workers"],
)
def test_terraform_renders_the_same_inventory(tmp_path, raw_spec, profile, change):
    raw = change(raw_spec) if change else raw_spec
    spec = tmp_path / "cluster.yml"
    spec.write_text(yaml.safe_dump(raw))
    ours = render(parse_cluster(raw, profile))
    # A multi-line string prints as a heredoc: <<EOT ... EOT.
    heredoc = _console(spec, profile, "local.inventory", tmp_path).strip()
    theirs = heredoc.removeprefix("<<EOT\n").removesuffix("EOT")
    # Same header, same data; yamlencode and PyYAML quote differently.
    assert theirs.splitlines()[:2] == ours.splitlines()[:2]
    assert yaml.safe_load(theirs) == yaml.safe_load(ours)


def test_terraform_refuses_overlapping_pools(tmp_path, raw_spec):
    raw_spec["profiles"]["full"]["pools"][1]["address"] = 12  # minio1 on kafka2's address
    spec = tmp_path / "cluster.yml"
    spec.write_text(yaml.safe_dump(raw_spec))
    assert "share an address" in _console(spec, "full", "output.machines", tmp_path, ok=False)


def test_terraform_is_formatted(tmp_path):
    _terraform("fmt", "-check", "-recursive", "-diff", cwd=TERRAFORM_DIR, home=tmp_path)


@pytest.mark.skipif(not MIRROR.is_dir(), reason=f"no provider mirror at {MIRROR} (make artifacts)")
def test_terraform_validates_and_plans_with_the_provider_from_the_mirror(tmp_path, raw_spec):
    # A copy, so init's .terraform/ and lock file stay out of the clone.
    work = tmp_path / "repo"
    shutil.copytree(TERRAFORM_DIR, work / "terraform", ignore=shutil.ignore_patterns(".terraform*"))
    shutil.copy(CLUSTER_FILE, work / "cluster.yml")
    rc = tmp_path / "terraform.rc"
    rc.write_text(cli_config(MIRROR))
    tf = {"cwd": work / "terraform", "home": tmp_path, "rc": rc}
    out = _terraform("init", "-input=false", **tf)
    # versions.tf pins the manifest's version: the mirror holds no other.
    version = load_manifest()["terraform-provider-libvirt"].version.removeprefix("v")
    assert f"Installing dmacvicar/libvirt v{version}" in out
    _terraform("validate", **tf)
    # terraform/tests/plan.tftest.hcl, the provider mocked: the profiles' machines, and a
    # raised count adding one machine while the others stay as they are.
    scaled = tmp_path / "scaled.yml"
    workers = next(p for p in raw_spec["profiles"]["small"]["pools"] if p["name"] == "sdp-worker")
    workers["count"] += 1
    scaled.write_text(yaml.safe_dump(raw_spec))
    out = _terraform("test", f'-var=scaled_spec="{scaled}"', "-var=scale_added=1", **tf)
    assert "4 passed, 0 failed" in out
