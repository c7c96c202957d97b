"""`sdp platform` commands that refuse or skip what they cannot do before touching any host:
scale-out and scale-in, and down on container hosts that are off."""

import pytest

from sdp.platform.checks import stream
from sdp.platform.inventory import parse_listing
from tests.conftest import sdp

INVENTORY = """
all:
  hosts:
    w1: {ansible_host: 192.0.2.11}
    k1: {ansible_host: 192.0.2.12}
  children:
    spark_worker: {hosts: {w1: {}}}
    kafka_broker: {hosts: {k1: {}}}
"""


@pytest.mark.parametrize(
    ("command", "host", "message"),
    [
        ("scale-out", "w9", "w9: not in"),  # a count raised but the inventory not regenerated
        ("scale-in", "w9", "w9: not in"),
        ("scale-in", "k1", "k1: not Spark workers"),
    ],
)
def test_scale_commands_name_the_host_they_refuse(tmp_path, command, host, message):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(INVENTORY)
    result = sdp("platform", command, "-i", str(inventory), host)
    assert result.returncode == 1
    assert message in " ".join(result.stderr.split())


def test_down_on_container_hosts_that_are_off_stops_nothing_and_succeeds(tmp_path):
    """`make down` twice: the second finds no host running (before, its playbook failed
    reaching them)."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {hosts: {sdp-never-booted: {ansible_host: 10.231.0.250}}}\n")
    result = sdp("platform", "down", "-i", str(inventory))
    assert (result.returncode, result.stderr.strip()) == (0, "nothing was running")


def test_a_disabled_stream_is_reported_not_probed():
    listing = {
        "_meta": {"hostvars": {"m": {"ansible_host": "192.0.2.1", "spark_stream_enabled": False}}},
        "spark_master": {"hosts": ["m"]},
    }
    assert "disabled" in stream(parse_listing(listing, None))
