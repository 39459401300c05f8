#!/usr/bin/env bash
# `make test`: set everything up, start the infrastructure the tests need, run every test, stop
# what this script started. Any failure (pytest's "no tests collected", exit 5, included) fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
devstack() { $UV run --frozen python -m devstack "$@"; }

scripts/bootstrap.sh --test

step "lint: ruff check and ruff format --check"
$UV run --frozen ruff check .
$UV run --frozen ruff format --check .

if [[ -f frontend/package.json ]]; then
  step "frontend: type check, unit tests (Vitest), production build"
  (cd frontend && npm run --silent typecheck && npm run --silent test && npm run --silent build)
fi

# Stop exactly what this run started (infrastructure somebody already runs stays up).
started_file="$(mktemp)"
docker_started_file="$(mktemp)"
cluster_started_file="$(mktemp)"
cleanup() {
  if [[ -s "$cluster_started_file" ]]; then
    step "stopping the local cluster this run started (its volume stays: make cluster-down PURGE=1)"
    tools/cluster/cluster.sh down || true
  fi
  if [[ -s "$started_file" ]]; then
    step "stopping what this run started: $(tr '\n' ' ' <"$started_file")"
    devstack down $(cat "$started_file") || true
  fi
  [[ -s "$docker_started_file" ]] && scripts/docker-daemon.sh stop
  rm -f "$started_file" "$docker_started_file" "$cluster_started_file"
}
trap cleanup EXIT

step "Docker daemon for the container tests (tests/containers): started when none answers"
scripts/docker-daemon.sh start "$docker_started_file"
# Docker is part of `make test`: a missing engine fails the container tests instead of skipping them.
export ALICE_TEST_CONTAINERS=1

# ALICE_TEST_CLUSTER=0 skips the cluster stage (tests/cluster and its cold build of Kubernetes,
# about an hour on a fresh 2-core machine): the switch that keeps a cold CI run inside its limit.
if [[ "${ALICE_TEST_CLUSTER:-1}" == "0" ]]; then
  step "cluster stage skipped (ALICE_TEST_CLUSTER=0): tests/cluster are reported as skipped"
else
  step "local Kubernetes cluster for tests/cluster: provisioned once (cached), started when not running"
  scripts/skaffold.sh
  cluster_started="$SECONDS"
  if tools/cluster/cluster.sh up "$cluster_started_file"; then
    echo "cluster ready in $((SECONDS - cluster_started))s"
  else
    echo "the local cluster did not come up: tests/cluster will fail with the reason" >&2
  fi
  # The cluster is part of `make test`: tests/cluster fail instead of skipping when it is missing.
  export ALICE_TEST_CLUSTER=1
fi

step "native infrastructure (Redis, Kafka, FerretDB, Weaviate): provision what is missing, start"
devstack up --infra --record "$started_file"

step "pytest: unit, integration, end-to-end and browser tests"
$UV run --frozen pytest "$@"
