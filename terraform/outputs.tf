output "inventory" {
  description = "The Ansible inventory: terraform output -raw inventory > ../ansible/inventories/cluster/hosts.yml"
  value       = module.spec.inventory
}

output "machines" {
  description = "Every VM: address, vcpu, memory (MiB), disk (GiB)."
  value       = module.spec.machines
}
