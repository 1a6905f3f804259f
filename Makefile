# Keywarden: `make run` serves the app on SQLite; `make test` runs every test.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
# npm's wasm-opt (binaryen) must come before Debian's, which breaks hydration.
export PATH := $(CURDIR)/.tools/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
export TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
# CI builds once from scratch: incremental caches would only cost disk.
ifeq ($(CI),true)
export CARGO_INCREMENTAL := 0
endif

.PHONY: run test soak bench link-order setup setup-test build-release unit-and-integration e2e e2e-release lint postgres

## Install what is missing, build a release and serve http://127.0.0.1:3000 (SQLite in ./data).
run: setup build-release
	LEPTOS_SITE_ROOT=target/site exec ./target/release/keywarden serve

## Lint first (it fails fastest), then unit tests, integration tests on SQLite and PostgreSQL,
## then the browser tests.
test: setup-test lint unit-and-integration e2e

## The long runs: schema fuzzing with 300 examples per operation, then the reliability suite.
soak: setup-test postgres
	KEYWARDEN_FUZZ_EXAMPLES=300 cargo test -p server --test schema_fuzz -- --nocapture
	cargo test -p server --test reliability -- --nocapture

## Release build under wrk (SQLite and PostgreSQL) beside a minimal axum ceiling; criterion.
bench: postgres
	bash .ci/setup bench
	bash end2end/bench/run.sh
	cargo bench -p app --features ssr --bench crypto

## Profile the release build and rewrite server/link-order.txt, the functions the linker lays
## out together (when the dependencies or the toolchain change).
link-order: postgres build-release
	bash .ci/setup bench
	bash end2end/bench/link_order.sh

setup:
	bash .ci/setup build

setup-test:
	bash .ci/setup test

build-release:
	bash .ci/build-release

postgres:
	bash .ci/postgres-up

unit-and-integration: postgres
	cargo test --workspace --exclude frontend

e2e:
	cargo build -p fake-exchange --bin fake-exchange
	cargo leptos build --split
	cd end2end && npx playwright test

## The browser tests against the release build `make run` serves (not part of `make test`: a cold
## release build takes ~25 minutes on 2 cores).
e2e-release: setup-test build-release
	cargo build -p fake-exchange --bin fake-exchange
	cd end2end && E2E_SERVER_BIN=../target/release/keywarden npx playwright test

lint:
	cargo fmt --all --check
	cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
	@# The server signs only HS256 JWTs: no RSA implementation may creep back in.
	@test -z "$$(cargo tree -i rsa --target all 2>/dev/null)" || { echo "the rsa crate is in the tree"; exit 1; }
