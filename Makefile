# The two commands a newcomer needs: `make dev` (run Alice locally) and `make test` (run every test).
SHELL := /bin/bash
DEVSTACK := source scripts/env.sh && $$UV run --frozen python -m devstack

.PHONY: dev up down status logs test lint format setup compose-up compose-down cluster-up cluster-down cluster-dev \
	restore-drill

setup:            ## install everything (idempotent; slow steps are cached in ~/.cache/alice)
	scripts/bootstrap.sh

dev: setup        ## native stack + all services + frontend in the foreground; Ctrl-C stops all
	$(DEVSTACK) dev

up: setup         ## same as dev, in the background; returns when everything is ready
	$(DEVSTACK) up

down:             ## stop exactly what `make up`/`make dev` started
	$(DEVSTACK) down

status:
	$(DEVSTACK) status

logs:             ## `make logs` (all) or `make logs NAME=kafka`
	$(DEVSTACK) logs $(NAME)

compose-up:       ## the whole system under docker compose (offline images when no registry answers)
	scripts/bootstrap.sh --containers
	scripts/compose.sh up

compose-down:     ## stop it (data stays in named volumes; `scripts/compose.sh down -v` deletes it)
	scripts/compose.sh down

cluster-up:       ## a local single-node Kubernetes (context kind-alice); the first run builds it (tools/cluster)
	scripts/skaffold.sh
	tools/cluster/cluster.sh up

cluster-dev:      ## the cluster, its Secrets, offline images where no registry answers, then `skaffold dev`
	SKAFFOLD_FLAGS="$(SKAFFOLD_FLAGS)" scripts/cluster-dev.sh

restore-drill:    ## on the running cluster deployment: data, backups, the stores wiped, restore, checks
	source scripts/env.sh && $$UV run --frozen python tools/cluster/restore_drill.py $(if $(URL),--url $(URL))

cluster-down:     ## stop it; `make cluster-down PURGE=1` also deletes its volume (PVC data, loaded images)
	tools/cluster/cluster.sh down $(if $(PURGE),--purge)

test:             ## set up, start what tests need, run every test, stop what was started
	scripts/test.sh

lint:             ## ruff (Python) and ShellCheck (every shell script)
	source scripts/env.sh && $$UV run --frozen ruff check . && $$UV run --frozen ruff format --check .
	scripts/shellcheck.sh

format:
	source scripts/env.sh && $$UV run --frozen ruff check --fix . && $$UV run --frozen ruff format .
