#!/usr/bin/env bash
# Install everything into .venv: the CPU build of torch first (a plain `torch` would pull a CUDA build of
# several GB), then the project with its studio and test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[studio,test]"
