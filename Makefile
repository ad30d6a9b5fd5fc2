# Helix: the two commands are `make dev` (run it locally) and `make test` (run every check).
# Everything else here is a step of those two.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

FUNCTIONS := auth-verify turns personas agents budget budget-reconcile
LAMBDA_PACKAGES := $(addprefix -p ,$(FUNCTIONS))
# The embedded database's URL, unless DATABASE_URL points at another server.
DB_URL = $$(scripts/db url)

.PHONY: help dev test bench fmt-check clippy unit-tests lambda-build tools db-start db-stop migrate seed reconcile hash-passcode

help:
	@echo "make dev   run Helix locally: embedded Postgres + pgvector, migrations, demo seed, API on :3001"
	@echo "make test  every check: fmt, clippy -D warnings, all tests on a real Postgres, the cargo-lambda build"
	@echo "make bench latency of POST /v1/turns direct vs through Helix (release build, fsync on)"

## Run the whole API locally (Ctrl-C stops it; the database keeps running: make db-stop).
dev: db-start
	cargo build --package local-gateway --bins
	DATABASE_URL="$(DB_URL)" target/debug/helix-admin migrate
	DATABASE_URL="$(DB_URL)" target/debug/helix-admin seed
	DATABASE_URL="$(DB_URL)" HELIX_LOG_FORMAT="$${HELIX_LOG_FORMAT:-pretty}" target/debug/local-gateway

## Latency of POST /v1/turns against a fast fake provider: the release API, the embedded database with
## fsync on, 200 requests/s open-loop (HELIX_BENCH_RATE, HELIX_BENCH_SECONDS). A benchmark, not a check.
bench: db-start
	cargo build --release --locked --package local-gateway --bins
	DATABASE_URL="$(DB_URL)" target/release/helix-bench

## Every check CI runs, in order of how fast they fail.
test: fmt-check clippy unit-tests lambda-build
	@echo "make test: all checks passed"

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings

# Database tests each get a fresh migrated database; AWS tests start their own moto server.
unit-tests: db-start tools
	DATABASE_URL="$(DB_URL)" cargo test --workspace --locked

## Each function as Lambda builds it (provided.al2023), with the release profile.
lambda-build:
	PATH="$$(scripts/tools):$$PATH" cargo lambda build --release --locked $(LAMBDA_PACKAGES)
	@for f in $(FUNCTIONS); do ls -l "target/lambda/$$f/bootstrap" | awk -v f="$$f" '{printf "  %-18s %6.1f MB\n", f, $$5/1048576}'; done

tools:
	scripts/tools >/dev/null

db-start:
	scripts/db start

db-stop:
	scripts/db stop

migrate: db-start
	DATABASE_URL="$(DB_URL)" cargo run --quiet --package local-gateway --bin helix-admin -- migrate

seed: migrate
	DATABASE_URL="$(DB_URL)" cargo run --quiet --package local-gateway --bin helix-admin -- seed

## Runs the scheduled budget reconciliation once against the local database.
reconcile: migrate
	DATABASE_URL="$(DB_URL)" cargo run --quiet --package local-gateway --bin helix-admin -- reconcile

## Prints a bcrypt hash for a new passcode, read from stdin (never from the command line).
hash-passcode:
	@cargo run --quiet --package local-gateway --bin helix-admin -- hash-passcode
