"""A Kafka login as librdkafka takes it: the one place the generator, the control node's tools
and the Kafka role's modules get it from (the platform's kafka_auth, roles/_platform)."""

import os

SCRAM = "SCRAM-SHA-512"  # the applications' users
PLAIN = "PLAIN"  # the super user, whose password the brokers keep in their configuration
# The environment a login travels in, by librdkafka setting: from_env reads it, to_env writes it.
USER, PASSWORD, CA = "SDP_KAFKA_USER", "SDP_KAFKA_PASSWORD", "SDP_KAFKA_CA"
ENVIRONMENT = {"sasl.username": USER, "sasl.password": PASSWORD, "ssl.ca.location": CA}


def client_config(
    bootstrap: str, user: str = "", password: str = "", mechanism: str = SCRAM, ca: str = ""
) -> dict[str, str]:
    """No user: no login (kafka_auth false); no ca: no TLS (kafka_tls false). `ca`: the file of
    the CA certificate the brokers' certificates must come from."""
    config = {
        "bootstrap.servers": bootstrap,
        "security.protocol": ("SASL_" if user else "") + ("SSL" if ca else "PLAINTEXT"),
    }
    if ca:
        config["ssl.ca.location"] = ca
    if user:
        config |= {"sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}
    return config


def from_env(bootstrap: str, user: str | None) -> dict[str, str]:
    """`user` logs in with the password in SDP_KAFKA_PASSWORD (never on a command line); TLS with
    the CA certificate in the file SDP_KAFKA_CA, when set."""
    ca = os.environ.get(CA, "")
    if ca and not os.path.isfile(ca):
        raise ValueError(f"{CA}: {ca} is not a file")
    if not user:
        return client_config(bootstrap, ca=ca)
    password = os.environ.get(PASSWORD)
    if not password:
        raise ValueError(f"--kafka-user {user} needs its password in {PASSWORD}")
    return client_config(bootstrap, user, password, ca=ca)


def to_env(client: dict[str, str]) -> dict[str, str]:
    """The environment from_env (with SDP_KAFKA_USER as the user) turns back into `client`."""
    return {name: client[key] for key, name in ENVIRONMENT.items() if key in client}
