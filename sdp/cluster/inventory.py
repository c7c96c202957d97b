"""The Ansible inventory of a cluster profile, rendered from the spec.

The same file serves VMs (Terraform, Vagrant) and container hosts (`sdp hosts up` reads its
`sdp_container_network` and `ansible_host`s), so multi-host runs can be tested without VMs.
"""

import yaml

from sdp.cluster.spec import GROUPS, KAFKA_GROUPS, Cluster, Host

# terraform/spec/inventory.tftpl writes the same header.
HEADER = (
    "# Generated from cluster.yml (profile {profile}); do not edit.\n"
    "# Change cluster.yml, then `make cluster-inventory PROFILE={profile}` or terraform apply.\n"
)


def host_vars(host: Host) -> dict:
    derived = {"ansible_host": host.address}
    if any(g in host.groups for g in KAFKA_GROUPS):
        # The host number: unique in the network and unchanged when hosts are added.
        derived["kafka_node_id"] = host.number
    return {**host.vars, **derived}


def inventory(cluster: Cluster) -> dict:
    return {
        "all": {
            "vars": {
                **cluster.vars,
                "sdp_cluster_name": cluster.name,
                # The network the hosts share; its first address is the control node.
                "sdp_container_network": {
                    "bridge": cluster.network.bridge,
                    "gateway": cluster.network.gateway,
                },
            },
            "hosts": {h.name: host_vars(h) for h in cluster.hosts},
            "children": {
                group: {"hosts": {h.name: {} for h in cluster.group(group)}}
                for group in GROUPS
                if cluster.group(group)
            },
        }
    }


def render(cluster: Cluster) -> str:
    body = yaml.safe_dump(inventory(cluster), sort_keys=True, default_flow_style=False, width=100)
    return HEADER.format(profile=cluster.profile) + body
