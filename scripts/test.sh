#!/usr/bin/env bash
# `make test`: set everything up, start the infrastructure the tests need, run every test, stop
# what this script started. Any failure (pytest's "no tests collected", exit 5, included) fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
devstack() { $UV run --frozen python -m devstack "$@"; }

scripts/bootstrap.sh --test

step "lint: ruff check, ruff format --check and ShellCheck"
$UV run --frozen ruff check .
$UV run --frozen ruff format --check .
scripts/shellcheck.sh

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
    local names
    mapfile -t names <"$started_file"
    devstack down "${names[@]}" || true
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

if [[ $# -gt 0 || "${ALICE_TEST_CLUSTER}" != "1" ]]; then
  step "pytest: unit, integration, end-to-end and browser tests"
  $UV run --frozen pytest "$@"
  exit 0
fi
# The cluster stage mostly waits on Kubernetes. Beside it, one after another, run the fast tests
# (unit, manifests, workspace), the end-to-end and browser tests but the chaos schedules, the
# container tests (cached image builds, then `docker compose`) and the integration tests (their own
# Kafka topics and processes on free ports): together they take about as long as the cluster stage.
# The chaos schedules come after, alone: their floor of accepted messages assumes the machine is
# theirs (docs/decisions/0057-test-stages-and-cached-image-builds.md).
fast=(services tools tests/deploy tests/workspace)
alone=(tests/e2e/test_chaos.py)
rest=()
for dir in tests/*/; do
  case "${dir%/}" in tests/cluster | tests/containers | tests/integration | tests/deploy | tests/workspace | tests/support) ;; *) rest+=("${dir%/}") ;; esac
done
ignore_alone=()
for path in "${alone[@]}"; do ignore_alone+=("--ignore=$path"); done
beside_log="$(mktemp)"
step "pytest: the cluster stage, with the fast, end-to-end, container and integration tests beside it (their output follows it)"
(
  fast_rc=0 e2e_rc=0 containers_rc=0 integration_rc=0
  $UV run --frozen pytest -p no:cacheprovider "${fast[@]}" || fast_rc=$?
  $UV run --frozen pytest -p no:cacheprovider --durations=15 "${rest[@]}" "${ignore_alone[@]}" || e2e_rc=$?
  $UV run --frozen pytest -p no:cacheprovider tests/containers || containers_rc=$?
  $UV run --frozen pytest -p no:cacheprovider tests/integration || integration_rc=$?
  echo "beside the cluster stage: fast tests exited $fast_rc, end-to-end and browser tests $e2e_rc," \
    "container tests $containers_rc, integration tests $integration_rc"
  ((fast_rc == 0 && e2e_rc == 0 && containers_rc == 0 && integration_rc == 0))
) >"$beside_log" 2>&1 &
beside_pid=$!
cluster_rc=0
$UV run --frozen pytest tests/cluster || cluster_rc=$?
beside_rc=0
wait "$beside_pid" || beside_rc=$?
step "pytest: the tests run beside the cluster stage (${fast[*]}, ${rest[*]} but ${alone[*]}, tests/containers, tests/integration)"
cat "$beside_log"
rm -f "$beside_log"
step "pytest: the chaos schedules (${alone[*]}), alone"
alone_rc=0
$UV run --frozen pytest --durations=15 "${alone[@]}" || alone_rc=$?
echo "exit codes: cluster stage $cluster_rc, the tests beside it $beside_rc, the chaos schedules $alone_rc (each must be 0)"
((cluster_rc == 0 && beside_rc == 0 && alone_rc == 0))
