# Focal — `make help` lists the targets.
SHELL := /usr/bin/env bash
GO    ?= go
BIN   := bin/focal
STATE := .state

# Development-only values for `make run`; production sets its own secret.
DEV_SECRET  := focal-dev-secret-do-not-use-in-production
DEMO_TENANT := 550e8400-e29b-41d4-a716-446655440000
DEMO_AGENT  := 6ba7b810-9dad-11d1-80b4-00c04fd430c8
RUN_ADDR    ?= :8080

.DEFAULT_GOAL := help
.PHONY: help build run test test-short lint fmt mongo mongo-stop bench chaos fuzz clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'

build: ## Build bin/focal
	$(GO) build -o $(BIN) ./cmd/focal

run: build ## Serve the demo agent on :8080 (memory store, offline model); prints a token and a curl line
	@export FOCAL_JWT_SECRET='$(DEV_SECRET)' FOCAL_HTTP_ADDR='$(RUN_ADDR)' \
	        FOCAL_BOOTSTRAP_BUNDLE=examples/demo-agent.yaml FOCAL_LOG_FORMAT=console; \
	token=$$($(BIN) token --tenant $(DEMO_TENANT) --role admin --tier pro --ttl 24h) || exit 1; \
	port=$${FOCAL_HTTP_ADDR##*:}; \
	echo; echo "Bearer token (24h, tenant $(DEMO_TENANT), admin):"; echo "$$token"; echo; \
	echo "Try it:"; \
	echo "curl -s localhost:$$port/v1/chat -H 'Authorization: Bearer $$token' -H 'Content-Type: application/json' -d '{\"agent_id\":\"$(DEMO_AGENT)\",\"channel\":\"webchat\",\"user_channel_id\":\"demo-user\",\"message\":\"Hi! I want to return my jacket\"}'"; \
	echo; exec $(BIN) serve

test: ## Everything: format, vet, dependency direction, race tests incl. MongoDB (starts its own server)
	scripts/test.sh

test-short: ## Unit and component tests on memory only, without -race (fast feedback)
	$(GO) test ./domain/... ./ports/... ./application/... ./adapters/memory/... ./adapters/http/... ./test/component/... ./test/architecture/...

lint: ## gofmt, go vet and the hexagon's dependency direction
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 ./test/architecture/

fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')

bench: ## Benchmarks and load runs on loopback (about 5 minutes); rewrites docs/benchmarks.md
	scripts/bench.sh

chaos: ## 1,000 turns on MongoDB behind a fault-injecting proxy (a few minutes); rewrites its section of docs/benchmarks.md
	scripts/chaos.sh

fuzz: ## Run every fuzz target for a minute each
	scripts/fuzz.sh 60s

mongo: ## Start the local MongoDB-compatible test server (FerretDB) and print its URI
	@scripts/mongo-server.sh start $(STATE)/mongo
	@echo "# a standalone server: run Focal on it with FOCAL_STORE=mongo FOCAL_MONGO_ALLOW_STANDALONE=true" >&2

mongo-stop: ## Stop the server started by `make mongo`
	@scripts/mongo-server.sh stop $(STATE)/mongo

clean: ## Remove build output and local state
	rm -rf bin $(STATE)
