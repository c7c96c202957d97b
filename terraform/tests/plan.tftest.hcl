# `terraform test` with a mocked libvirt provider: what apply would create for the machines
# `sdp cluster tfvars` expands, without a libvirt daemon. tests/cluster/test_terraform.py runs it
# on every profile and on a raised count; `make terraform-check` on PROFILE.

mock_provider "libvirt" {}

variables {
  base_image = "/images/debian-12-sdp.qcow2"
  kernel     = "/images/debian-12-sdp.vmlinuz"
  initrd     = "/images/debian-12-sdp.initrd"
}

run "machines" {
  variables {
    domain_type = "qemu"
    cpu_model   = "qemu64"
  }
  assert {
    condition     = sort(keys(libvirt_domain.host)) == sort(keys(var.machines)) && sort(keys(libvirt_volume.root)) == sort(keys(var.machines))
    error_message = "one domain and one volume per machine, keyed by its name"
  }
  assert {
    condition = alltrue([for name, m in var.machines : (
      one(libvirt_domain.host[name].network_interface[0].addresses) == m.address
      && libvirt_domain.host[name].vcpu == m.vcpu && libvirt_domain.host[name].memory == m.memory
    && libvirt_volume.root[name].size == m.disk * 1024 * 1024 * 1024)])
    error_message = "each machine has the address and size it was given"
  }
  assert {
    condition     = alltrue([for name, d in libvirt_domain.host : d.cmdline[0]["systemd.hostname"] == name])
    error_message = "each VM boots with its inventory name as host name"
  }
  assert {
    condition     = libvirt_network.cluster.mode == "none" && one(libvirt_network.cluster.addresses) == var.network.cidr
    error_message = "the network is isolated, on the cluster's cidr"
  }
  assert {
    condition     = alltrue([for d in libvirt_domain.host : !strcontains(d.xml[0].xslt, "tb-cache")])
    error_message = "TCG's translation cache is QEMU's default, as under Vagrant"
  }
}

run "kvm" {
  command = plan
  variables {
    domain_type = "kvm"
    cpu_model   = "host-passthrough"
  }
  assert {
    condition = alltrue([for d in libvirt_domain.host : d.type == "kvm"
    && strcontains(d.xml[0].xslt, "host-passthrough")])
    error_message = "KVM passes the host CPU through"
  }
}
