# `make cluster-tfvars` writes terraform.tfvars.json from `sdp cluster tfvars`: the profile, the
# base image and this machine's accelerator. The topology itself is read from cluster.yml.

variable "profile" {
  description = "The cluster.yml profile to build (small, full)."
  type        = string
  default     = "small"
}

variable "spec_file" {
  description = "The cluster spec; default the repository's cluster.yml."
  type        = string
  default     = null
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
  description = "host-passthrough under KVM; a CPU model TCG emulates (qemu64) otherwise."
  type        = string
  default     = "qemu64"
}

variable "tcg_tb_cache_mib" {
  description = "QEMU's TCG translation cache per VM (TCG only)."
  type        = number
  default     = 128
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
