# Focal — `make help` lists the targets.
SHELL := /usr/bin/env bash
GO    ?= go
BIN   := bin/focal
STATE := .state

# Development-only values for `make run`; production sets its own secret.
DEV_SECRET  := focal-dev-secret-do-not-use-in-production
# Seals tenants' model keys in `make run` (32 bytes, base64); never in production.
DEV_SEALING := Zm9jYWwtZGV2LXNlYWxpbmcta2V5LW5vdC1zZWNyZXQ=
RUN_ADDR    ?= :8080
# `make run` keeps its conversations here across restarts.
RUN_DB      ?= $(STATE)/run/focal.db

.DEFAULT_GOAL := help
.PHONY: help build run test test-short lint fmt schema mongo mongo-stop postgres postgres-stop bench chaos eval fuzz clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'

build: ## Build bin/focal
	$(GO) build -o $(BIN) ./cmd/focal

run: build ## Serve the demo agent on :8080 (SQLite in RUN_DB, kept across restarts; offline model) and its order lookup on 127.0.0.1:8081; prints a token, a curl line and the console URL
	@$(BIN) demo-tools --listen 127.0.0.1:8081 & demo=$$!; trap 'kill $$demo' EXIT INT TERM; \
	 FOCAL_JWT_SECRET='$(DEV_SECRET)' FOCAL_SECRET_KEY='$(DEV_SEALING)' FOCAL_HTTP_ADDR='$(RUN_ADDR)' \
	 FOCAL_STORE="$${FOCAL_STORE:-sqlite}" FOCAL_SQLITE_PATH="$${FOCAL_SQLITE_PATH:-$(RUN_DB)}" FOCAL_TOOLS_ALLOWED_HOSTS=127.0.0.1:8081 \
	 FOCAL_BOOTSTRAP_BUNDLE=examples/demo-agent.yaml FOCAL_LOG_FORMAT=console \
	 $(BIN) serve --banner

test: ## Everything: lint, race tests incl. MongoDB and PostgreSQL (starts its own servers), conversation tests, short fuzzing
	scripts/test.sh

test-short: ## Unit and component tests on memory only, without -race (fast feedback)
	$(GO) test ./domain/... ./ports/... ./application/... ./adapters/memory/... ./adapters/http/... ./test/component/... ./test/architecture/...

lint: ## gofmt, go vet, fused multiply-adds in the scoring code, staticcheck, function length/nesting/complexity, dependency direction (tools pinned in scripts/lint.sh, installed into .state/bin)
	scripts/lint.sh

fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')

schema: ## Regenerate docs/agent-bundle.schema.json from the bundle's Go types
	$(GO) generate ./adapters/bundleschema

SOAK ?= 10m
bench: ## Load runs beside bare gin, a SOAK-long soak (default 10m; e.g. SOAK=2m), idle streams; rewrites docs/benchmarks.md (about 20 minutes)
	SOAK='$(SOAK)' scripts/bench.sh

eval: ## Banking77 and the demo paraphrases through the engine in process (focal eval); rewrites docs/evaluation.md (a few minutes)
	scripts/eval.sh

chaos: ## Crashes and outages on real focal processes, and 1,000 turns behind a fault-injecting proxy, on MongoDB and PostgreSQL (scripts/chaos.sh -stores to choose; several minutes); rewrites their sections of docs/benchmarks.md
	scripts/chaos.sh

fuzz: ## Run every fuzz target for a minute each
	scripts/fuzz.sh 60s

mongo: ## Start the local MongoDB-compatible test server (FerretDB) and print its URI
	@scripts/mongo-server.sh start $(STATE)/mongo
	@echo "# a standalone server: run Focal on it with FOCAL_STORE=mongo FOCAL_MONGO_ALLOW_STANDALONE=true" >&2

mongo-stop: ## Stop the server started by `make mongo`
	@scripts/mongo-server.sh stop $(STATE)/mongo

postgres: ## Start a local PostgreSQL test server (installs the Debian package when missing) and print its URL
	@scripts/postgres-server.sh start $(STATE)/postgres
	@echo "# run Focal on it with FOCAL_STORE=postgres FOCAL_POSTGRES_URL=<the URL above>" >&2

postgres-stop: ## Stop the server started by `make postgres`
	@scripts/postgres-server.sh stop $(STATE)/postgres

clean: ## Remove build output and local state
	rm -rf bin $(STATE)
