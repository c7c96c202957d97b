# One libvirt network and one VM per machine of var.machines, which `sdp cluster tfvars` expands
# from a cluster.yml profile. Raising a pool's count there and applying adds machines and leaves
# the existing ones alone: every resource is keyed by host name, and the expansion keeps each
# host's name and address.

# Air-gapped: mode "none" gives the hosts no route out; they reach only this machine, at the
# network's first address, where the artifact server (8765) and the apt proxy (3142) listen.
resource "libvirt_network" "cluster" {
  name      = var.network.name
  mode      = "none"
  bridge    = var.network.bridge
  addresses = [var.network.cidr]
  autostart = true
  dhcp {
    enabled = true
  }
  dns {
    enabled    = true
    local_only = true
  }
}

resource "libvirt_volume" "base" {
  name   = basename(var.base_image)
  pool   = var.pool
  source = var.base_image
  format = "qcow2"
}

resource "libvirt_volume" "root" {
  for_each       = var.machines
  name           = "${each.key}.qcow2"
  pool           = var.pool
  base_volume_id = libvirt_volume.base.id
  format         = "qcow2"
  # The image grows its file system to the volume on boot (sdp-growfs.service).
  size = each.value.disk * 1024 * 1024 * 1024
}

resource "libvirt_domain" "host" {
  for_each  = var.machines
  name      = each.key
  type      = var.domain_type
  vcpu      = each.value.vcpu
  memory    = each.value.memory
  autostart = true

  # Direct kernel boot: the image is one ext4 file system, without a partition table or a boot
  # loader, so building it needs no loop devices. The host name on the command line: DHCP's
  # alone left every VM named localhost.
  kernel  = var.kernel
  initrd  = var.initrd
  cmdline = [{ root = "/dev/vda", console = "ttyS0", _ = "rw", "systemd.hostname" = each.key }]

  disk {
    volume_id = libvirt_volume.root[each.key].id
  }

  # The address is a DHCP reservation (and a DNS name) on the network: one image serves
  # every host, without cloud-init.
  network_interface {
    network_id = libvirt_network.cluster.id
    hostname   = each.key
    addresses  = [each.value.address]
  }

  console {
    type        = "pty"
    target_type = "serial"
    target_port = "0"
  }

  # The CPU model and the console log are not in the provider's schema. TCG's translation cache
  # stays at QEMU's default (1 GiB), as under Vagrant: capped at 128 MiB, a VM running several JVMs
  # flushed it every 1-2 s and took 1.9x as long (docs/timings.md).
  xml {
    xslt = templatefile("${path.module}/domain.xsl.tftpl", {
      cpu_model       = var.cpu_model
      console_log_dir = var.console_log_dir
    })
  }
}
