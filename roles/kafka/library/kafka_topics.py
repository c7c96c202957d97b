#!/usr/bin/python
"""kafka_topics: create the missing topics of a list in one AdminClient request.

Runs on the control node (delegate_to: localhost, the project's virtualenv: confluent-kafka,
generator/).
kafka-topics.sh starts a JVM per topic: 14 topics took 1434 s on emulated (TCG) VMs. Existing
topics are left as they are (partitions only grow by hand).
"""

from ansible.module_utils.basic import AnsibleModule

from generator.kafka_login import PLAIN, client_config

DOCUMENTATION = r"""
module: kafka_topics
short_description: Create the missing Kafka topics of a list, in one request
options:
  bootstrap: {description: host:port list of the brokers, type: str, required: true}
  admin_user:
    description: a super user (SASL/PLAIN); empty - the listeners are PLAINTEXT
    type: str
    default: ""
  ca_file: {description: CA certificate of the brokers' TLS (empty - none), type: str, default: ""}
  admin_password: {type: str, default: "", no_log: true}
  topics:
    description: name, partitions, replication_factor, config (dict)
    type: list
    elements: dict
    required: true
  default_partitions: {type: int, default: 3}
  default_replication_factor: {type: int, default: 1}
  timeout: {description: seconds for the brokers to answer and create, type: int, default: 120}
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "bootstrap": {"type": "str", "required": True},
            "admin_user": {"type": "str", "default": ""},
            "ca_file": {"type": "str", "default": ""},
            "admin_password": {"type": "str", "default": "", "no_log": True},
            "topics": {"type": "list", "elements": "dict", "required": True},
            "default_partitions": {"type": "int", "default": 3},
            "default_replication_factor": {"type": "int", "default": 1},
            "timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    try:
        from confluent_kafka import KafkaError
        from confluent_kafka.admin import AdminClient, NewTopic
    except ImportError:
        module.fail_json(msg="confluent-kafka is missing: run Ansible from the project's .venv")
    p = module.params
    admin = AdminClient(
        client_config(p["bootstrap"], p["admin_user"], p["admin_password"], PLAIN, p["ca_file"])
    )
    try:
        existing = set(admin.list_topics(timeout=p["timeout"]).topics)
    except Exception as e:  # KafkaException: no broker answered in time
        module.fail_json(msg=f"no broker of {p['bootstrap']} answered: {e}")
    missing = [t for t in p["topics"] if t["name"] not in existing]
    if missing and not module.check_mode:
        futures = admin.create_topics(
            [
                NewTopic(
                    t["name"],
                    int(t.get("partitions", p["default_partitions"])),
                    int(t.get("replication_factor", p["default_replication_factor"])),
                    config={k: str(v) for k, v in (t.get("config") or {}).items()},
                )
                for t in missing
            ],
            request_timeout=p["timeout"],
        )
        failed = {}
        exists = KafkaError.TOPIC_ALREADY_EXISTS
        for name, future in futures.items():
            try:
                future.result(p["timeout"])
            except Exception as e:  # one topic's KafkaException names its reason
                error = e.args[0] if e.args else None
                if isinstance(error, KafkaError) and error.code() == exists:
                    continue  # created since the listing, by another run
                failed[name] = str(e)
        if failed:
            module.fail_json(msg=f"topics not created: {failed}", failed_topics=failed)
    module.exit_json(changed=bool(missing), created=[t["name"] for t in missing])


if __name__ == "__main__":
    main()
