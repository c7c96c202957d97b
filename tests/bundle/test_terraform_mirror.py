"""`terraform init` works offline from the bundle's provider mirror."""

import subprocess

import pytest

from sdp.bundle import layout
from sdp.bundle.manifest import load_manifest
from sdp.bundle.terraform import cli_config, executable
from sdp.paths import bundle_dir

pytestmark = pytest.mark.integration


def test_init_installs_libvirt_provider_from_the_mirror_only(tmp_path):
    provider = load_manifest()["terraform-provider-libvirt"]
    source, version = provider.get("source"), provider.version.removeprefix("v")
    rc = tmp_path / "terraform.rc"
    rc.write_text(cli_config(bundle_dir() / layout.index()["terraform_mirror"]))
    (tmp_path / "main.tf").write_text(
        "terraform {\n  required_providers {\n"
        f'    libvirt = {{\n      source  = "{source.split("/", 1)[1]}"\n'
        f'      version = "{version}"\n    }}\n'
        "  }\n}\n"
    )
    tf = executable(layout.index()["binaries"], bundle_dir())
    env = {
        "TF_CLI_CONFIG_FILE": str(rc),
        "TF_IN_AUTOMATION": "1",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CHECKPOINT_DISABLE": "1",
    }
    result = subprocess.run(
        [str(tf), "init", "-input=false", "-no-color"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Installing dmacvicar/libvirt v{version}" in result.stdout
    assert (tmp_path / ".terraform.lock.hcl").exists()
