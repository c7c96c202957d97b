"""`sdp cluster` on the command line: what Terraform and Vagrant read; errors name the field."""

import json
import re

from typer.testing import CliRunner

from sdp.cli import app
from sdp.paths import REPO_ROOT

VARIABLES_TF = REPO_ROOT / "terraform" / "variables.tf"

runner = CliRunner()


def test_a_bad_profile_exits_naming_it():
    result = runner.invoke(app, ["cluster", "inventory", "--profile", "tiny"])
    assert result.exit_code == 1
    assert "profiles.tiny: no such profile" in result.output


def test_inventory_writes_the_file(tmp_path):
    out = tmp_path / "inv" / "hosts.yml"
    result = runner.invoke(app, ["cluster", "inventory", "-p", "full", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "sdp-spark-worker2:" in out.read_text()


def test_tfvars_are_what_terraform_declares():
    result = runner.invoke(app, ["cluster", "tfvars", "-p", "full"])
    values = json.loads(result.stdout)
    declared = re.findall(r'^variable "(\w+)"', VARIABLES_TF.read_text(), flags=re.M)
    assert set(values) <= set(declared)
    assert len(values["machines"]) == 13
    assert values["machines"]["sdp-kafka1"]["address"] == "10.232.0.11"
    assert values["base_image"].endswith("/images/debian-12-sdp.qcow2")


def test_hosts_json_carries_what_the_vagrantfile_reads():
    machines = json.loads(runner.invoke(app, ["cluster", "hosts", "--json"]).stdout)
    assert machines["network"]["address"] == "10.232.0.1"
    assert machines["network"]["netmask"] == "255.255.255.0"
    assert set(machines["image"]) == {"disk", "kernel", "initrd", "box"}
    assert machines["ssh_key"].endswith("/ssh/id_ed25519")
    assert [h["name"] for h in machines["hosts"]] == ["sdp-node1", "sdp-node2", "sdp-node3"]
