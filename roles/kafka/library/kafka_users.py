#!/usr/bin/python
"""kafka_users: the applications' SCRAM-SHA-512 logins and exactly their ACLs.

Runs on the control node (delegate_to: localhost, the project's virtualenv: confluent-kafka,
generator/) and logs in as the super user (SASL/PLAIN). A user whose login already works keeps its
credential, so a second run changes nothing; a user's ACLs that are not in the list are deleted.
"""

from ansible.module_utils.basic import AnsibleModule

from generator.kafka_login import PLAIN, client_config

DOCUMENTATION = r"""
module: kafka_users
short_description: Kafka SCRAM users and their ACLs, exactly as listed
options:
  bootstrap: {description: host:port list of the brokers, type: str, required: true}
  admin_user: {description: a super user (SASL/PLAIN), type: str, required: true}
  ca_file: {description: CA certificate of the brokers' TLS (empty - none), type: str, default: ""}
  admin_password: {type: str, required: true, no_log: true}
  users:
    description: >-
      name, password, acls - each acl a resource (topic, group), names, pattern (literal,
      prefixed; default literal) and operations (read, write, describe, ...)
    type: list
    elements: dict
    required: true
  timeout: {description: seconds for the brokers to answer, type: int, default: 120}
"""

ITERATIONS = 8192


def logs_in(bootstrap: str, user: str, password: str, ca: str) -> bool:
    """True when the brokers take this SCRAM login (a failed one ends the request at once)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient(client_config(bootstrap, user, password, ca=ca)).list_topics(timeout=15)
    except KafkaException:
        return False
    return True


def bindings(user: dict) -> set:
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    wanted = set()
    for acl in user.get("acls") or []:
        for name in acl["names"]:
            for operation in acl["operations"]:
                wanted.add(
                    AclBinding(
                        ResourceType[acl["resource"].upper()],
                        name,
                        ResourcePatternType[acl.get("pattern", "literal").upper()],
                        f"User:{user['name']}",
                        "*",
                        AclOperation[operation.upper()],
                        AclPermissionType.ALLOW,
                    )
                )
    return wanted


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "bootstrap": {"type": "str", "required": True},
            "admin_user": {"type": "str", "required": True},
            "ca_file": {"type": "str", "default": ""},
            "admin_password": {"type": "str", "required": True, "no_log": True},
            "users": {"type": "list", "elements": "dict", "required": True, "no_log": False},
            "timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    try:
        from confluent_kafka.admin import (
            AclBindingFilter,
            AclOperation,
            AclPermissionType,
            AdminClient,
            ResourcePatternType,
            ResourceType,
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialUpsertion,
        )
    except ImportError:
        module.fail_json(msg="confluent-kafka is missing: run Ansible from the project's .venv")
    p = module.params
    for user in p["users"]:
        module.no_log_values.add(user["password"])
    admin = AdminClient(
        client_config(p["bootstrap"], p["admin_user"], p["admin_password"], PLAIN, p["ca_file"])
    )
    try:
        admin.list_topics(timeout=p["timeout"])
    except Exception as e:  # KafkaException: no broker answered, or the login was refused
        module.fail_json(msg=f"{p['admin_user']} cannot log in to {p['bootstrap']}: {e}")

    stale = [
        u for u in p["users"] if not logs_in(p["bootstrap"], u["name"], u["password"], p["ca_file"])
    ]
    if stale and not module.check_mode:
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, ITERATIONS)
        futures = admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(u["name"], info, u["password"].encode()) for u in stale]
        )
        for name, future in futures.items():
            try:
                future.result(p["timeout"])
            except Exception as e:
                module.fail_json(msg=f"the login of {name} was not set: {e}")

    added, deleted = [], []
    for user in p["users"]:
        principal = f"User:{user['name']}"
        every = AclBindingFilter(
            ResourceType.ANY,
            None,
            ResourcePatternType.ANY,
            principal,
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        have = set(admin.describe_acls(every, request_timeout=p["timeout"]).result(p["timeout"]))
        wanted = bindings(user)
        add, remove = wanted - have, have - wanted
        if not module.check_mode:
            if add:
                for future in admin.create_acls(list(add), request_timeout=p["timeout"]).values():
                    future.result(p["timeout"])
            if remove:  # a filter with every field set matches only that binding
                filters = [
                    AclBindingFilter(
                        b.restype,
                        b.name,
                        b.resource_pattern_type,
                        b.principal,
                        b.host,
                        b.operation,
                        b.permission_type,
                    )
                    for b in remove
                ]
                for future in admin.delete_acls(filters, request_timeout=p["timeout"]).values():
                    future.result(p["timeout"])
        added += [str(b) for b in add]
        deleted += [str(b) for b in remove]
    module.exit_json(
        changed=bool(stale or added or deleted),
        logins_set=[u["name"] for u in stale],
        acls_added=sorted(added),
        acls_deleted=sorted(deleted),
    )


if __name__ == "__main__":
    main()
