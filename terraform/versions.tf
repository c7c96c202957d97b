terraform {
  required_version = ">= 1.5"
  required_providers {
    # Built into the bundle's filesystem mirror at the version artifacts/manifest.yml pins
    # (terraform-provider-libvirt); `terraform init` needs no registry:
    #   TF_CLI_CONFIG_FILE=<(sdp artifacts terraformrc) terraform init
    libvirt = {
      source  = "dmacvicar/libvirt"
      version = "0.8.3"
    }
  }
}

provider "libvirt" {
  uri = var.libvirt_uri
}
