# The cluster spec's hosts, derived in HCL exactly as sdp/cluster/spec.py derives them (the tests
# in tests/cluster compare the two). No providers: it only reads cluster.yml, so it plans, and
# renders the inventory, anywhere.

variable "spec_file" {
  description = "The cluster spec (cluster.yml)."
  type        = string
}

variable "profile" {
  description = "A profile of the spec."
  type        = string
}

locals {
  spec    = yamldecode(file(var.spec_file))
  profile = local.spec.profiles[var.profile]
  extra   = try(local.profile.groups, {})
  groups = ["kafka_controller", "kafka_broker", "minio", "postgres",
  "spark_master", "spark_worker", "airflow", "monitoring"]

  # Pool NAME with count N: hosts NAME1 .. NAMEN at host numbers address .. address + N - 1.
  hosts = flatten([
    for pool in local.profile.pools : [
      for i in range(pool.count) : {
        name   = "${pool.name}${i + 1}"
        number = pool.address + i
        size   = local.spec.sizes[pool.size]
        groups = [
          for g in local.groups : g
          if contains(try(pool.groups, []), g) || contains(try(local.extra[g], []), "${pool.name}${i + 1}")
        ]
        vars = try(pool.vars, {})
      }
    ]
  ])

  prefix_len = split("/", local.spec.network.cidr)[1]
  inventory = templatefile("${path.module}/inventory.tftpl", {
    profile = var.profile
    hosts = [for h in local.hosts : {
      name = h.name
      vars = merge(h.vars, { ansible_host = cidrhost(local.spec.network.cidr, h.number) },
        length(setintersection(h.groups, ["kafka_controller", "kafka_broker"])) > 0
      ? { kafka_node_id = h.number } : {})
    }]
    groups = { for g in local.groups : g => [for h in local.hosts : h.name if contains(h.groups, g)] }
    vars = merge(try(local.spec.vars, {}), {
      sdp_cluster_name = "${local.spec.name}-${var.profile}"
      sdp_container_network = {
        bridge  = local.spec.network.bridge
        gateway = "${cidrhost(local.spec.network.cidr, 1)}/${local.prefix_len}"
      }
    })
  })
}

output "network" {
  description = "name, bridge, cidr"
  value       = local.spec.network
}

output "image" {
  description = "The base image's name."
  value       = local.spec.image
}

output "machines" {
  description = "Every host: address, vcpu, memory (MiB), disk (GiB)."
  value = { for h in local.hosts : h.name => {
    address = cidrhost(local.spec.network.cidr, h.number)
    vcpu    = h.size.vcpu
    memory  = h.size.memory
    disk    = h.size.disk
  } }
  # `sdp cluster` checks the whole spec and names the field (make cluster-tfvars runs it).
  # Here only what would break silently: two domains on one address. (Two hosts of one name
  # fail on their own, as duplicate keys.)
  precondition {
    condition     = length(distinct([for h in local.hosts : h.number])) == length(local.hosts)
    error_message = "Two hosts of cluster.yml share an address (pools overlap); sdp cluster hosts names them."
  }
}

output "inventory" {
  description = "The Ansible inventory (ansible/inventories/cluster/hosts.yml)."
  value       = local.inventory
}
