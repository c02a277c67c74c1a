# Hangar: build, local stack, tests.  `make help` lists the targets.
#
# Every recipe sources scripts/env.sh first: it puts Node >= 22 (wrangler and
# miniflare need it), ~/.cargo/bin and worker-build's tool variables in place.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
ENV := . scripts/env.sh &&

# make test E2E="tests/e2e/machines tests/e2e/http/health.test.mjs"   (files, folders or
# globs; default: every tests/e2e/**/*.test.mjs, in the phases of tests/e2e/README.md)
E2E ?=

.DEFAULT_GOAL := help
.PHONY: help setup wrangler build build-release dev test test-native test-e2e token deploy-dry-run deploy deploy-secrets bench clean

help:
	@echo "make setup           install toolchain, npm packages, PostgreSQL (idempotent)"
	@echo "make build           build every function (e2e profile) into functions/*/build"
	@echo "make build-release   the same with the release profile (what deploys)"
	@echo "make dev             build, start the local stack on :8787 and the console on :3000, Ctrl-C stops it"
	@echo "make token           log in against 'make dev' (prints ACCESS_TOKEN=…)"
	@echo "make test            native tests + build + e2e tests against a fresh stack"
	@echo "make deploy-dry-run  wrangler deploy --dry-run for every function, with sizes"
	@echo "make deploy          every function to STAGE (production|staging); DRY_RUN=1: offline"
	@echo "make deploy-secrets  the secrets of ENV_FILE into every function of STAGE"
	@echo "make bench           sizes (release), latency and PostgREST round trips, with budgets"
	@echo "make wrangler        regenerate wrangler.toml from functions/*"
	@echo "make clean           remove builds and local stack data (never cargo clean)"

setup:
	@bash scripts/setup.sh

# Regenerated whenever it is used, so a new function crate needs no extra step
# (written only when its content changes).
wrangler: setup
	@$(ENV) node scripts/gen-wrangler.mjs

build: setup wrangler
	@$(ENV) bash scripts/build-functions.sh e2e

build-release: setup wrangler
	@$(ENV) bash scripts/build-functions.sh release

# The e2e profile for dev too: no LTO link per function, seconds instead of minutes.
dev: build
	@$(ENV) cargo build -p hangar-runner
	@$(ENV) bash scripts/build-console.sh stack
	@$(ENV) exec node tests/stack/stack.mjs dev

token:
	@$(ENV) node tests/tools/session.mjs

test: setup wrangler
	@$(ENV) exec bash scripts/test.sh $(E2E)

test-native: setup
	@$(ENV) bash scripts/test.sh --native-only

test-e2e: build
	@$(ENV) cargo build -p hangar-runner
	@$(ENV) bash scripts/build-console.sh
	@$(ENV) exec node tests/stack/stack.mjs test $(E2E)

bench: setup wrangler
	@$(ENV) bash scripts/bench.sh

# The same as `make deploy DRY_RUN=1` (production, release build): every function's size.
deploy-dry-run: setup wrangler
	@$(ENV) node scripts/deploy.mjs --stage production --dry-run

# make deploy [STAGE=production|staging] [DRY_RUN=1] [ENV_FILE=deploy/<stage>.env]
# make deploy-secrets [STAGE=…] [ENV_FILE=…]   (README: Deployment)
STAGE ?= production
ENV_FILE ?=
DEPLOY_ARGS = --stage $(STAGE) $(if $(ENV_FILE),--env-file $(ENV_FILE)) $(if $(filter 1 yes true,$(DRY_RUN)),--dry-run)

deploy: setup wrangler
	@$(ENV) node scripts/deploy.mjs $(DEPLOY_ARGS)

deploy-secrets: setup
	@$(ENV) node scripts/deploy.mjs --secrets $(DEPLOY_ARGS)

clean:
	@$(ENV) bash scripts/clean.sh
