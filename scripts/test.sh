#!/usr/bin/env bash
# `make test`: set everything up, start the infrastructure the tests need, run every test, stop
# what this script started. Any failure (pytest's "no tests collected", exit 5, included) fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

scripts/bootstrap.sh --test

step "lint: ruff check and ruff format --check"
$UV run --frozen ruff check .
$UV run --frozen ruff format --check .

if [[ -f frontend/package.json ]]; then
  step "frontend: type check, unit tests (Vitest), production build"
  (cd frontend && npm run --silent typecheck && npm run --silent test && npm run --silent build)
fi

started_infra=false
if ! $UV run --frozen python -m devstack status --infra --quiet; then
  step "starting the native infrastructure (Redis, Kafka, FerretDB, Weaviate)"
  $UV run --frozen python -m devstack up --infra
  started_infra=true
fi
cleanup() { $started_infra && $UV run --frozen python -m devstack down || true; }
trap cleanup EXIT

step "pytest: unit, integration, end-to-end and browser tests"
$UV run --frozen pytest "$@"
