# remote-buildkit — developer entry points. See CONTRIBUTING.md.
SHELL := /bin/bash
.DEFAULT_GOAL := build

BIN        ?= $(CURDIR)/bin/remote-buildkit
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
STACK_ENV   = $(shell bash tests/stack/stack.sh env-file)
# urfave_cli_no_docs leaves out urfave/cli's man-page generator (and its Markdown library's init).
GOTAGS     := urfave_cli_no_docs
# remote_buildkit_test: the build the tests and bench run honours test overrides (REMOTE_BUILDKIT_ECR_HOSTS); release does not.
GOFLAGS_LD := -tags $(GOTAGS),remote_buildkit_test -ldflags "-X main.version=$(VERSION)"

.PHONY: build build-race deps deps-demo stack-up stack-up-demo stack-down demo check test test-unit test-integration test-race-fleet test-hooks lint bench release docs

build:
	go build $(GOFLAGS_LD) -o $(BIN) ./cmd/remote-buildkit

# The binary with the race detector, for the pool and split tests (builds run in parallel there).
RACE_BIN ?= $(CURDIR)/bin/remote-buildkit-race
build-race:
	go build -race $(GOFLAGS_LD) -o $(RACE_BIN) ./cmd/remote-buildkit

# Installs the Debian packages, bats-mock and the buildkitd/buildctl binaries (v0.34.2, plus v0.33.1 and v0.32.2 for skew tests),
# versitygw, toxiproxy, buildx and buildkite-agent (cached).
deps:
	bash tests/stack/stack.sh install

# Only what the demo runs: a few Debian packages and buildkitd/buildctl v0.34.2.
deps-demo:
	bash tests/stack/stack.sh install-demo

stack-up: deps
	bash tests/stack/stack.sh up

# buildkitd, the registry and the base image (a running full stack is left as it is).
stack-up-demo: deps-demo
	bash tests/stack/stack.sh up --demo

stack-down:
	bash tests/stack/stack.sh down

# The main job: local stack up, then hooks/command builds and pushes examples/ as a Buildkite job would.
demo: stack-up-demo build
	REMOTE_BUILDKIT_BIN=$(BIN) bash tests/demo.sh

# vet with -race: it type-checks against the same compiled packages as the -race unit tests, so a
# fresh clone compiles the dependencies once instead of twice.
lint:
	@test -z "$$(gofmt -l cmd internal tests bench *.go)" || { gofmt -l cmd internal tests bench *.go; exit 1; }
	go vet -race ./...
	shellcheck -x hooks/command hooks/environment hooks/pre-exit hooks/lib.bash tests/stack/*.sh tests/*.sh .ci/run

# The contributor loop: no root, no stack (lint, unit tests with -race, hook tests). See CONTRIBUTING.md.
# The hook tests tagged `release` (a real `make release` build, a few minutes cold) run in test-hooks only.
# They build their own binaries (the hooks' go build), so check builds none.
check: lint test-unit
	bats --filter-tags '!release' tests/hooks

# README's configuration table from plugin.yml (docs_test.go fails when they disagree).
docs:
	go generate .

# Every go test of the Makefile goes through tests/testsummary: the failed tests' output, the skipped
# tests with their reasons, and a last line "N passed, N failed, N skipped". `make test` (the full
# stack) sets NOSKIP: there, a skip hides something untested and fails the run.
SUMMARY = go run ./tests/testsummary $(NOSKIP)

# Cert sync's speculative fetches run beside the install: 50 rounds under the race detector.
test-unit:
	set -o pipefail; go test -json -race ./internal/... ./cmd/... ./tests/faultkit/... ./tests/testsummary/... . 2>&1 | $(SUMMARY)
	set -o pipefail; go test -json -race -count=50 ./internal/certs/ 2>&1 | $(SUMMARY)

test-hooks: build
	set -o pipefail; bats --formatter tap tests/hooks | tee bin/hooks.tap
	@if [ -n "$(NOSKIP)" ] && grep ' # skip' bin/hooks.tap; then echo "hook tests skipped on the full stack (above)"; exit 1; fi

# RUN=Pattern runs only the integration tests matching it (go test -run), e.g. make test-integration RUN=TestBuildPush
RUN ?=
test-integration: build stack-up
	set -o pipefail; set -a; source "$(STACK_ENV)"; set +a; REMOTE_BUILDKIT_BIN=$(BIN) go test -json -count=1 -timeout 25m $(if $(RUN),-run '$(RUN)') ./tests/integration/... 2>&1 | $(SUMMARY)

# The integration tests whose builds run in parallel, again with a race-detector binary (a data race makes
# it exit 66 and the test fail): split nodes, pools, dns:// fleets, bake, buildx routed to a pool, fleet
# member or split nodes. They are the tests named TestParallel…: lint_test.go's TestRacePassSelectsEveryParallelPathTest
# fails when a test that sets up one of those paths lacks the prefix, so a rename can't drop it from this pass.
RACE_TESTS ?= ^TestParallel
RACE_SKIP  ?= ^TestParallelFleetDNSBoundedBuildsThroughBinary$$
test-race-fleet: build-race stack-up
	set -o pipefail; set -a; source "$(STACK_ENV)"; set +a; REMOTE_BUILDKIT_BIN=$(RACE_BIN) GORACE="halt_on_error=1 exitcode=66" \
	  go test -json -race -count=1 -timeout 20m -run '$(RACE_TESTS)' -skip '$(RACE_SKIP)' ./tests/integration/... 2>&1 | $(SUMMARY)

# Everything CI runs: `.ci/run` calls exactly this.
test: NOSKIP := -noskip
test: deps lint test-unit test-hooks test-integration test-race-fleet

# Benchmarks against buildctl and the AWS CLI recipe; writes bench/results/<date>.md.
bench: build stack-up
	set -a; source "$(STACK_ENV)"; set +a; go run ./bench -bin $(BIN) $(BENCH_FLAGS)

# Static release binaries and the sums the hooks verify downloads against.
# Commit hooks/checksums.sha256 with the release tag; upload dist/* as the release's assets.
# DIST and SUMS move the binaries and the sums elsewhere (the delivery test builds a release for one platform).
RELEASE_TARGETS ?= linux/amd64 linux/arm64 darwin/arm64
DIST ?= dist
SUMS ?= $(CURDIR)/hooks/checksums.sha256
release:
	rm -rf $(DIST) && mkdir -p $(DIST)
	set -e; for t in $(RELEASE_TARGETS); do \
	  os=$${t%/*}; arch=$${t#*/}; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -tags $(GOTAGS) -ldflags "-s -w -X main.version=$(VERSION)" \
	    -o $(DIST)/remote-buildkit-$(VERSION)-$$os-$$arch ./cmd/remote-buildkit; \
	done
	cd $(DIST) && sha256sum remote-buildkit-$(VERSION)-* | sort -k2 > $(SUMS).tmp && mv $(SUMS).tmp $(SUMS)
	@cat $(SUMS)
