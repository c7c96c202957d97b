# `make cluster-tfvars` writes terraform.tfvars.json from `sdp cluster tfvars`: a cluster.yml
# profile's network and machines as sdp/cluster/spec.py expands them, the base image and this
# machine's accelerator.

variable "network" {
  description = "The cluster network: name, bridge, cidr."
  type        = object({ name = string, bridge = string, cidr = string })
}

variable "machines" {
  description = "One VM per host: its address, vcpu, memory (MiB) and disk (GiB)."
  type = map(object({
    address = string
    vcpu    = number
    memory  = number
    disk    = number
  }))
}

variable "base_image" {
  description = "The qcow2 `sdp cluster image` builds."
  type        = string
}

variable "kernel" {
  description = "The image's kernel, booted directly by libvirt."
  type        = string
}

variable "initrd" {
  description = "The image's initrd."
  type        = string
}

variable "domain_type" {
  description = "kvm, or qemu (TCG) where KVM is unusable; `sdp cluster tfvars` detects it."
  type        = string
  default     = "qemu"
  validation {
    condition     = contains(["kvm", "qemu"], var.domain_type)
    error_message = "domain_type is kvm or qemu."
  }
}

variable "cpu_model" {
  description = "host-passthrough under KVM; a CPU model TCG emulates (Nehalem, x86-64-v2) otherwise."
  type        = string
  default     = "Nehalem"
}

variable "console_log_dir" {
  description = "Where each VM's serial console is logged (NAME-console.log), on the libvirt host."
  type        = string
  default     = "/var/log/libvirt/qemu"
}

variable "libvirt_uri" {
  description = "The libvirt daemon to create the machines on."
  type        = string
  default     = "qemu:///system"
}

variable "pool" {
  description = "The libvirt storage pool for the volumes."
  type        = string
  default     = "default"
}
