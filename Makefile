# sdn.egress: one entry point for a newcomer on a fresh Debian machine.
#   make demo   - install what is needed, build the lab, converge it, show real egress traffic
#                 (LAYOUT=sdn48: the lab and the collection in openshift-sdn's 4.8+ layout;
#                 VARIANT=ovn: the OVN lab and OVN-Kubernetes EgressService)
#   make test   - install what is needed, run unit, integration, sanity, lint and molecule
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
COLL := .cache/collections
# openshift-sdn layout of the lab and of the converge (make demo LAYOUT=sdn48): sdn3 | sdn48
LAYOUT ?= sdn3
# which system the demo runs: sdn (openshift-sdn egress IPs, lab/lab.py) | ovn (OVN-Kubernetes
# EgressService, lab/ovnlab.py)
VARIANT ?= sdn
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLL)
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: all bootstrap test unit integration sanity lint molecule demo demo-sdn demo-ovn lab-up lab-down lab-check ovnlab-up ovnlab-down ovnlab-check bench bench-nodes bench-failover bench-ovn build ee changelog clean

all: test

bootstrap:
	@./scripts/bootstrap.sh

unit: bootstrap
	$(PY) -m pytest tests/unit -q

integration: bootstrap
	$(PY) -m pytest tests/integration -q -p no:cacheprovider

sanity: bootstrap
	@# ansible-test wants the collection at ansible_collections/sdn/egress, outside any other git
	@# work tree; the copy is the collection as shipped (galaxy.yml build_ignore), without the lab
	set -e; top=$$(mktemp -d); dest=$$top/ansible_collections/sdn/egress; mkdir -p $$dest; \
	git ls-files -co --exclude-standard | grep -v -E '^(lab|scripts|bench|\.ci)/' \
	  | rsync -a --files-from=- ./ $$dest/; \
	cd $$dest && $(CURDIR)/$(BIN)/ansible-test sanity --python 3.11 --local --color no; rc=$$?; \
	rm -rf $$top; exit $$rc

lint: bootstrap
	$(BIN)/ansible-lint --profile production

# the lab is one per machine: molecule and the demo take the lock the lab's tests and bench take
LABLOCK := flock /tmp/sdnlab-dev.lock

molecule: bootstrap
	$(LABLOCK) .ci/molecule-scenario $(BIN)/molecule default
	$(LABLOCK) .ci/molecule-scenario $(BIN)/molecule sdn48
	$(LABLOCK) .ci/molecule-scenario $(BIN)/molecule failover
	flock /tmp/ovnlab-dev.lock .ci/molecule-scenario $(BIN)/molecule ovn_egress_service

test: unit integration sanity lint molecule
	@echo "make test: all suites passed"

lab-up: bootstrap
	$(PY) lab/lab.py up --layout $(LAYOUT)

lab-down:
	@if [ -x $(PY) ]; then $(PY) lab/lab.py down; else python3 lab/lab.py down; fi

lab-check: bootstrap
	$(PY) lab/lab.py check

ovnlab-up: bootstrap
	$(PY) lab/ovnlab.py up

ovnlab-down:
	@if [ -x $(PY) ]; then $(PY) lab/ovnlab.py down; else python3 lab/ovnlab.py down; fi

ovnlab-check: bootstrap
	$(PY) lab/ovnlab.py check

demo: demo-$(VARIANT)

demo-sdn: lab-up
	$(BIN)/ansible-playbook playbooks/egress.yml -i inventories/lab -e egress_layout=$(LAYOUT)
	$(PY) lab/lab.py check

# the OVN lab, the EgressService converge, then per pod the source IP the echo server saw next to
# the expected one (exit 1 on a mismatch); under the OVN lab's own lock
demo-ovn: bootstrap
	flock /tmp/ovnlab-dev.lock sh -c '$(PY) lab/ovnlab.py up && \
	  $(BIN)/ansible-playbook playbooks/egress_service.yml -i inventories/ovnlab && \
	  $(PY) lab/ovnlab.py check'


bench: bootstrap
	$(PY) bench/run.py

# the node axis: K = 3, 10, 30 lab nodes at 1000 namespaces (bench/README.md "Node axis");
# e.g. make bench-nodes BENCH_NODES_ARGS="--nodes 3,10 --namespaces 100"
BENCH_NODES_ARGS ?=
bench-nodes: bootstrap
	$(PY) bench/nodes.py $(BENCH_NODES_ARGS)

# dataplane failover (fast-failover groups + BFD) against run-based failover, in the lab
bench-failover: bootstrap
	$(PY) bench/failover.py

# the OVN-Kubernetes EgressService variant on the OVN lab (bench/README.md "OVN variant")
bench-ovn: bootstrap
	$(PY) bench/ovn_run.py

build: bootstrap
	$(BIN)/ansible-galaxy collection build --force --output-path build/

# the execution environment's build context (build/ee-context): the tarball, then ansible-builder.
# Build the image where the base image's registry is reachable:
#   podman build -f build/ee-context/Containerfile -t sdn-egress-ee build/ee-context
ee: build
	cp build/sdn-egress-$$(sed -n 's/^version: *//p' galaxy.yml).tar.gz build/sdn-egress.tar.gz
	$(BIN)/ansible-builder create -f execution-environment.yml -c build/ee-context --output-filename Containerfile

changelog: bootstrap
	$(BIN)/antsibull-changelog lint

clean:
	rm -rf build .cache/sanity tests/output
