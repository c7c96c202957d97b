"""Separate machines for Ansible on one box: systemd-nspawn container hosts from a spec."""
