"""Terraform builds exactly the machines `sdp cluster tfvars` expands, and its code is
well-formed. The plan tests need the libvirt provider from the bundle's mirror (`make artifacts`).
"""

import json

import pytest

from sdp.bundle.manifest import load_manifest
from sdp.cluster.cli import terraform_vars
from sdp.cluster.spec import parse_cluster
from tests.terraform import MIRROR, TERRAFORM_DIR, init_copy, run


def test_terraform_is_formatted(tmp_path):
    run("fmt", "-check", "-recursive", "-diff", cwd=TERRAFORM_DIR, home=tmp_path)


@pytest.fixture(scope="module")
def initialised(tmp_path_factory) -> dict:
    """A copy of terraform/, initialised from the mirror and validated."""
    if not MIRROR.is_dir():
        pytest.skip(f"no provider mirror at {MIRROR} (make artifacts)")
    tmp = tmp_path_factory.mktemp("terraform")
    tf, out = init_copy(tmp / "terraform", tmp)
    # versions.tf pins the manifest's version: the mirror holds no other.
    version = load_manifest()["terraform-provider-libvirt"].version.removeprefix("v")
    assert f"Installing dmacvicar/libvirt v{version}" in out
    run("validate", **tf)
    return tf


def _more_workers(raw: dict, profile: str) -> dict:
    pool = next(p for p in raw["profiles"][profile]["pools"] if "spark_worker" in p["groups"])
    pool["count"] += 2
    return raw


@pytest.mark.parametrize(
    ("profile", "change"),
    [("small", None), ("full", None), ("full", _more_workers)],
    ids=["small", "full", "full-2-more-workers"],
)
def test_the_plan_has_every_machine_of_the_expansion(initialised, raw_spec, profile, change):
    # terraform/tests/plan.tftest.hcl with the provider mocked, on what `sdp cluster tfvars` gives.
    cluster = parse_cluster(change(raw_spec, profile) if change else raw_spec, profile)
    values = initialised["home"] / f"{profile}-{len(cluster.hosts)}.tfvars.json"
    values.write_text(json.dumps(terraform_vars(cluster)))
    out = run("test", f"-var-file={values}", **initialised)
    assert "2 passed, 0 failed" in out
