# Entry points for everyone: `make up` runs the platform on this host, `make test` tests it.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
SDP := $(BIN)/sdp
PYTEST_ARGS ?=
export PYTEST_ARGS  # tests/suites.py passes them to each pytest run

.PHONY: help venv prereqs artifacts up demo status down test test-unit test-roles test-experiments lint \
	format clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## the project's virtualenv (.venv) with its dev tools

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

prereqs: venv ## Debian packages the manifest lists (Java 17, PostgreSQL, ...); installs what is missing
	$(SDP) artifacts host-deps || $(SDP) artifacts host-deps --install

artifacts: prereqs ## fetch/build every component into the cache (SDP_CACHE, default ~/.cache/sdp), checked against artifacts/lock.yml
	$(SDP) artifacts build
	$(SDP) artifacts requirements spark > $(VENV)/spark-requirements.txt
	$(BIN)/pip install --quiet --no-index --require-hashes -r $(VENV)/spark-requirements.txt

INVENTORY ?= ansible/inventories/local

up: artifacts ## boot the hosts of INVENTORY (default: one local container host), run site.yml, check
	$(SDP) platform up -i $(INVENTORY)

status: venv ## use every service for real; non-zero naming what is down
	$(SDP) platform status -i $(INVENTORY)

demo: up ## the demo: generator on the daily curve, the x10 sale on halfway, the windows it made (DEMO_ARGS='--minutes 4')
	$(SDP) platform demo -i $(INVENTORY) $(DEMO_ARGS)

down: venv ## stop every service and power the container hosts off; data stays
	$(SDP) platform down -i $(INVENTORY)

test: artifacts ## every suite against real services, each within its share of 60 min (tests/suites.py); a timing table at the end
	$(BIN)/python -m tests.suites

test-roles: artifacts ## molecule: each role on its own container host(s)
	$(BIN)/python -m tests.suites roles

test-unit: artifacts ## only the tests that need no services (pyspark and Java for the local SparkSession tests)
	$(BIN)/python -m tests.suites unit

test-experiments: artifacts ## opt-in, not in make test: E1 on the platform, E2 and E3 on 7 container hosts, small data (~30 min)
	$(BIN)/python -m tests.suites experiments

lint: venv ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv ## ruff format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## remove the virtualenv (the artifact cache is kept; it lives outside the clone)
	rm -rf $(VENV) build *.egg-info

# Multi-host clusters: cluster.yml -> VMs (terraform/ or the Vagrantfile) -> ansible/inventories/cluster.
.PHONY: cluster-inventory cluster-image cluster-tfvars terraform-check cluster-up scale-out scale-in \
	monitoring-targets test-cluster vm-host test-vm

PROFILE ?= small
CLUSTER_INVENTORY ?= ansible/inventories/cluster
# vms: the inventory's hosts run already (terraform apply, vagrant up); containers: boot them as
# container hosts on this machine (sdp hosts).
MACHINES ?= vms
TERRAFORM ?= terraform
comma := ,
CLUSTER = -i $(CLUSTER_INVENTORY) --machines $(MACHINES)

cluster-inventory: venv ## ansible/inventories/cluster from cluster.yml (PROFILE=small|full)
	$(SDP) cluster inventory --profile $(PROFILE) -o $(CLUSTER_INVENTORY)/hosts.yml

cluster-image: venv ## the VMs' base image and Vagrant box, from Debian's mirror (mmdebstrap; root; ~3 min)
	$(SDP) cluster image --profile $(PROFILE)

cluster-tfvars: venv ## terraform/terraform.tfvars.json: PROFILE, the base image, this machine's KVM or TCG
	$(SDP) cluster tfvars --profile $(PROFILE) > terraform/terraform.tfvars.json

terraform-check: venv ## terraform init (offline, from the bundle's provider mirror), fmt -check, validate, test (mocked)
	mkdir -p terraform/.terraform
	$(SDP) artifacts terraformrc > terraform/.terraform/sdp.tfrc
	$(SDP) cluster tfvars --profile $(PROFILE) > terraform/.terraform/check.tfvars.json
	cd terraform && export TF_CLI_CONFIG_FILE=$$PWD/.terraform/sdp.tfrc TF_IN_AUTOMATION=1 && \
		$(TERRAFORM) init -input=false -backend=false && \
		$(TERRAFORM) fmt -check -recursive -diff && \
		$(TERRAFORM) validate && \
		$(TERRAFORM) test -var-file=.terraform/check.tfvars.json

cluster-up: artifacts ## site.yml on the cluster's machines (MACHINES=vms|containers), then every check
	$(SDP) platform up $(CLUSTER)

scale-out: venv ## configure only the hosts a raised count added: make scale-out HOSTS=sdp-spark-worker3[,...]
	@test -n "$(HOSTS)" || { echo "usage: make scale-out HOSTS=host1,host2 (the hosts cluster.yml added)"; exit 2; }
	$(SDP) platform scale-out $(CLUSTER) $(subst $(comma), ,$(HOSTS))

scale-in: venv ## decommission Spark workers gracefully: make scale-in HOSTS=sdp-spark-worker3[,...]
	@test -n "$(HOSTS)" || { echo "usage: make scale-in HOSTS=sdp-spark-workerN (then lower its count in cluster.yml)"; exit 2; }
	$(SDP) platform scale-in -i $(CLUSTER_INVENTORY) $(subst $(comma), ,$(HOSTS))

monitoring-targets: venv ## Prometheus' targets from the inventory again (after a scale-in)
	$(SDP) platform up $(CLUSTER) -- --tags prometheus --limit monitoring

test-cluster: artifacts ## site.yml on 7 container hosts (Kafka x3, MinIO x4, Spark), smoke, faults (E2, E3: make test-experiments)
	$(BIN)/python -m tests.suites cluster

vm-host: venv ## this machine runs VMs: vagrant, libvirt, QEMU from Debian; libvirtd answering
	$(SDP) artifacts host-deps --component vm-host || $(SDP) artifacts host-deps --component vm-host --install
	$(SDP) cluster vm-host

PROVISIONER ?= vagrant
test-vm: artifacts vm-host ## opt-in, slow under TCG: the small profile's VMs (PROVISIONER=vagrant|terraform), site.yml, the same smoke
	SDP_TEST_VM=1 SDP_TEST_VM_PROVISIONER=$(PROVISIONER) $(BIN)/pytest tests/vm -rP $(PYTEST_ARGS)
