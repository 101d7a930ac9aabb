# snowmcp — every command a person, CI or a later issue relies on.
# `make venv` is the only step that touches the network (package registries).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# mypy 2 no longer checks for a Python 3.9 target; the workstation pass (client, the modules
# that run on a workstation) uses the last 1.x from a small venv of its own inside .venv.
MYPY39 := $(VENV)/mypy-py39/bin/mypy

.PHONY: venv demo demo-stop test test-fast lint sanity bench clean image-test changelog

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 2>&1 | { grep -v '^WARNING: Location' || true; }
	$(BIN)/pip install --quiet -e '.[dev]' 2>&1 | { grep -v '^WARNING: Location' || true; }
	@touch $@

$(MYPY39): | $(STAMP)
	$(BIN)/python -m venv $(VENV)/mypy-py39
	$(VENV)/mypy-py39/bin/pip install --quiet 'mypy>=1.19,<2' 2>&1 | { grep -v '^WARNING: Location' || true; }

demo: venv
	$(BIN)/python -m harness.demo start

demo-stop: venv
	$(BIN)/python -m harness.demo stop

# Everything CI runs. Extra pytest flags: make test PYTEST_ARGS='-k oauth -x'
# harness/provision.sh first: redis-server, npm and the Claude Code CLI, or one line saying what to install.
# Three xdist workers on two cores by default: the third fills the time the others wait on
# tokens expiring and services starting (quiet 2-core figures: 3 workers 498 s, 2 workers
# 573 s; bench/test_suite.md). Modules stay whole on a worker (tests/conftest.py).
# One process: make test TEST_WORKERS=0.
TEST_WORKERS ?= 3
test: venv
	@harness/provision.sh
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

lint: venv $(MYPY39)
	$(BIN)/ruff check src tests harness bench plugins roles
	$(BIN)/mypy
	MYPYPATH=collections $(MYPY39) --python-version 3.9 --python-executable $(BIN)/python --explicit-package-bases \
	  -p snowmcp.client -m snowmcp -m snowmcp._files -m snowmcp.service -m snowmcp.emulator \
	  -m ansible_collections.snowmcp.core.plugins.modules.claude_mcp_server \
	  -m ansible_collections.snowmcp.core.plugins.modules.claude_mcp_info \
	  -m ansible_collections.snowmcp.core.plugins.module_utils.claude_config \
	  -m ansible_collections.snowmcp.core.plugins.modules.claude_managed_settings
	MYPYPATH=collections $(BIN)/mypy --explicit-package-bases -p ansible_collections.snowmcp.core.plugins
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/ansible-lint --offline
	@for m in plugins/modules/*.py; do \
	  n=$$(basename $$m .py); \
	  $(BIN)/ansible-doc -M plugins/modules $$n >/dev/null || { echo "ansible-doc fails for $$n"; exit 1; }; \
	done; echo "ansible-doc renders every module"
	$(MAKE) --no-print-directory sanity

# ansible-test sanity on the built collection, offline (see tests/sanity/run.py).
# One test: make sanity SANITY_ARGS='--test pylint'
sanity: venv
	$(BIN)/python tests/sanity/run.py $(SANITY_ARGS)

# The token service's container image, built from the Dockerfile with podman on a Debian
# bookworm base made by debootstrap, and run non-root with a read-only root filesystem against
# the emulator (tests/image/). Heavy (minutes of CPU): not part of `make test`; .ci/run runs it
# after `make test`. harness/provision_image.sh installs podman, runc, debootstrap (root + apt)
# and keeps the base root filesystem in .cache/.
image-test: venv
	@harness/provision_image.sh
	SNOWMCP_IMAGE_TEST=1 PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -n 0 -p no:cacheprovider tests/image $(PYTEST_ARGS)

# CHANGELOG.md from changelogs/ (antsibull-changelog; see harness/changelog.py). Run it after
# adding or merging a fragment: tests/release/test_changelog.py fails while CHANGELOG.md is stale.
changelog: venv
	$(BIN)/python -m harness.changelog

bench: venv
	@for b in bench/*.py; do n=$$(basename $$b .py); case $$n in __init__|helpers) continue;; esac; \
	  echo "== $$b"; PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m bench.$$n || exit 1; done

clean:
	rm -rf $(VENV) .demo .cache .pytest_cache .mypy_cache .ruff_cache
