# This file is maintained automatically by "terraform init".
# Manual edits may be lost in future updates.

provider "registry.terraform.io/dmacvicar/libvirt" {
  version     = "0.8.3"
  constraints = "0.8.3"
  hashes = [
    "h1:mhDGBeo4nhQz04wTwNiK+nVKx/nQ6y5oSozyBnPdFxk=",
  ]
}
