output "machines" {
  description = "Every VM: name and address. The inventory is `make cluster-inventory`'s."
  value       = { for name, machine in var.machines : name => machine.address }
}
