# `terraform test` with a mocked libvirt provider: what apply would create for each profile,
# without a libvirt daemon. tests/cluster/test_terraform.py runs it with scaled_spec (cluster.yml
# with a worker more) and scale_added=1; `make terraform-check` with cluster.yml itself and 0:
# re-applying the same spec adds nothing and changes nothing.

mock_provider "libvirt" {}

variables {
  base_image = "/images/debian-12-sdp.qcow2"
  kernel     = "/images/debian-12-sdp.vmlinuz"
  initrd     = "/images/debian-12-sdp.initrd"
}

run "small" {
  variables {
    profile = "small"
  }
  assert {
    condition     = length(libvirt_domain.host) == 3 && length(libvirt_volume.root) == 3
    error_message = "the small profile is 3 machines"
  }
  assert {
    condition     = one(libvirt_domain.host["sdp-node1"].network_interface[0].addresses) == "10.232.0.11"
    error_message = "sdp-node1 is at host number 11"
  }
  assert {
    condition     = libvirt_network.cluster.mode == "none" && one(libvirt_network.cluster.addresses) == "10.232.0.0/24"
    error_message = "the network is isolated, on cluster.yml's cidr"
  }
  assert {
    condition     = strcontains(libvirt_domain.host["sdp-node1"].xml[0].xslt, "<tb-cache unit=\"MiB\">128</tb-cache>")
    error_message = "TCG caps the translation cache"
  }
}

run "kvm" {
  command = plan
  variables {
    profile     = "small"
    domain_type = "kvm"
    cpu_model   = "host-passthrough"
  }
  assert {
    condition = (libvirt_domain.host["sdp-node1"].type == "kvm"
      && strcontains(libvirt_domain.host["sdp-node1"].xml[0].xslt, "host-passthrough")
    && !strcontains(libvirt_domain.host["sdp-node1"].xml[0].xslt, "tb-cache"))
    error_message = "KVM passes the host CPU through and has no TCG cache"
  }
}

run "full" {
  command = plan
  variables {
    profile = "full"
  }
  assert {
    condition     = length(libvirt_domain.host) == 13
    error_message = "the full profile is 13 machines"
  }
  assert {
    condition     = libvirt_domain.host["sdp-spark-worker1"].memory == 8192 && libvirt_volume.root["sdp-spark-worker1"].size == 40 * 1024 * 1024 * 1024
    error_message = "workers are large: 8 GiB of memory, a 40 GiB volume"
  }
}

run "small_scaled" {
  variables {
    profile   = "small"
    spec_file = var.scaled_spec
  }
  assert {
    condition     = length(output.machines) == length(run.small.machines) + var.scale_added
    error_message = "a raised count adds exactly the new machines"
  }
  assert {
    condition     = alltrue([for name, machine in run.small.machines : output.machines[name] == machine])
    error_message = "existing machines keep their address and size"
  }
}
