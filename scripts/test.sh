#!/usr/bin/env bash
# Lints, type-checks and runs every test; called by `make test` after scripts/setup.sh test.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[test] %s\n' "$*"; }
say "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check --quiet .
say "mypy --strict"
.venv/bin/mypy .
say "pytest (unit, integration with private Mosquitto brokers and fresh PostgreSQL databases)"
# One worker per core; a test module stays on one worker, so its module-scoped fixtures (the role
# matrix's campus, a loaded face pipeline) are built once.
.venv/bin/pytest -n auto --dist loadfile "$@"
