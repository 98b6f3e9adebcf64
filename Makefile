# ledgerd: `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION     := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
DEMO_DIR    ?= ledgerd-demo
FUZZTIME    ?= 60s

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/ledgerd
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ledgerd ./cmd/ledgerd

.PHONY: run
run: build ## the demo in ledgerd-demo/: sandbox + serve on loopback, traffic, reconciliations, report (Ctrl-C ends it; DEMO_FLAGS="--duration 1m --seed 2")
	./bin/ledgerd demo --dir $(DEMO_DIR) $(DEMO_FLAGS)

.PHONY: lint
lint: ## gofmt, go vet, staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# test runs lint beside the tests (they wait on SQLite and child processes
# more than they use both cores) and prints lint's output after them.
.PHONY: test
test: ## lint, and every test with the race detector beside it
	@lintlog=$$(mktemp); ( $(MAKE) --no-print-directory lint >$$lintlog 2>&1 ) & lint=$$!; \
	  echo "$(GO) test -race -count=1 ./..."; $(GO) test -race -count=1 ./...; rc=$$?; \
	  wait $$lint; lrc=$$?; cat $$lintlog; rm -f $$lintlog; \
	  if [ $$lrc -ne 0 ]; then echo "lint failed"; exit $$lrc; fi; exit $$rc

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 60s); crashers land in testdata/fuzz
	@set -e; for target in webhook:FuzzDecode fuse:FuzzTransactionPage fuse:FuzzFastDecodeAgreesWithEncodingJSON fuse:FuzzAccount fuse:FuzzErrorBody \
	    fuse:FuzzAccountHistory config:FuzzConfig reconcile:FuzzReportWriters; do \
	  pkg=$${target%%:*}; name=$${target#*:}; echo "== $$name (./$$pkg) for $(FUZZTIME)"; \
	  $(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) ./$$pkg/; \
	done

SOAKTIME ?= 10m

.PHONY: soak
soak: build ## the long test variants (LEDGERD_LONG_TESTS=1), a fault-and-crash soak (SOAKTIME of traffic, default 10m; ends by itself), then the operator probes: RELIABILITY.md, soak-summary.json
	LEDGERD_LONG_TESTS=1 $(GO) test -race -count=1 -timeout 60m ./ledger/ ./sync/ ./fuse/sandbox/ ./replica/
	LEDGERD_LONG_TESTS=1 $(GO) test -count=1 -timeout 20m -run 'TestRestoreDrill' -v ./cmd/ledgerd/
	$(GO) run ./internal/soak -bin bin/ledgerd -duration $(SOAKTIME) -kills 20
	$(GO) run ./internal/probe -bin bin/ledgerd

.PHONY: probe
probe: build ## only the operator probes (about 2 minutes): their table in RELIABILITY.md
	$(GO) run ./internal/probe -bin bin/ledgerd

.PHONY: bench
bench: ## run the benchmarks and write BENCHMARKS.md
	$(GO) run ./internal/bench all

.PHONY: tidy
tidy: ## go mod tidy
	$(GO) mod tidy

.PHONY: clean
clean: ## remove build output and the demo directory
	rm -rf bin $(DEMO_DIR)
