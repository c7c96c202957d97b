"""The kafka role's server.properties for each setting of kafka_auth and kafka_tls (a lab may
turn either off): the listeners' protocol, and the login, authorizer and keystore with them."""

import jinja2
import pytest

from sdp.paths import REPO_ROOT

TEMPLATE = REPO_ROOT / "roles" / "kafka" / "templates" / "server.properties.j2"
HOST = {"kafka_node_id": 1, "kafka_advertised_host": "10.0.0.1"}


def properties(auth: bool, tls: bool) -> dict[str, str]:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    text = env.from_string(TEMPLATE.read_text()).render(
        ansible_managed="managed", inventory_hostname="k1", hostvars={"k1": HOST},
        kafka_brokers=["k1"], kafka_controllers=["k1"], **HOST, kafka_listen_address="10.0.0.1",
        kafka_broker_port=9092, kafka_controller_port=9093, kafka_auth=auth, kafka_tls=tls,
        kafka_admin_user="admin", kafka_admin_password="pw", sdp_config_dir="/etc/sdp",
        sdp_ca_file="/etc/sdp/tls/ca.crt", kafka_data_dir="/d", kafka_num_partitions=3,
        kafka_replication_factor=1, kafka_min_insync_replicas=1, kafka_extra_properties={},
    )  # fmt: skip
    lines = [line for line in text.splitlines() if "=" in line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


@pytest.mark.parametrize(
    ("auth", "tls", "protocol"),
    [(True, True, "SASL_SSL"), (True, False, "SASL_PLAINTEXT"), (False, True, "SSL"),
     (False, False, "PLAINTEXT")],
)  # fmt: skip
def test_the_listeners_protocol_login_and_keystore_follow_the_two_switches(auth, tls, protocol):
    got = properties(auth, tls)
    assert got["listener.security.protocol.map"] == f"CONTROLLER:{protocol},CLIENT:{protocol}"
    assert ("ssl.keystore.location" in got) == tls
    assert got.get("ssl.truststore.location") == ("/etc/sdp/tls/ca.crt" if tls else None)
    assert ("authorizer.class.name" in got) == auth
    if auth:
        assert got["super.users"] == "User:admin"
        assert got["allow.everyone.if.no.acl.found"] == "false"
        assert 'user_admin="pw"' in got["listener.name.client.plain.sasl.jaas.config"]
        assert got["listener.name.client.sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-512"
