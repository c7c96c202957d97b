"""A Kafka login as librdkafka takes it: the one place the generator, the control node's tools
and the Kafka role's modules get it from (the platform's kafka_auth, roles/_platform)."""

import os

SCRAM = "SCRAM-SHA-512"  # the applications' users
PLAIN = "PLAIN"  # the super user, whose password the brokers keep in their configuration


def client_config(bootstrap: str, user: str = "", password: str = "", mechanism: str = SCRAM):
    """No user: the listeners are PLAINTEXT (kafka_auth false)."""
    if not user:
        return {"bootstrap.servers": bootstrap}
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }


def from_env(bootstrap: str, user: str | None) -> dict[str, str]:
    """`user` logs in with the password in SDP_KAFKA_PASSWORD (never on a command line)."""
    if not user:
        return client_config(bootstrap)
    password = os.environ.get("SDP_KAFKA_PASSWORD")
    if not password:
        raise ValueError(f"--kafka-user {user} needs its password in SDP_KAFKA_PASSWORD")
    return client_config(bootstrap, user, password)
