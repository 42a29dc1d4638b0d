# issuer — `make demo` runs the whole pipeline, `make test` runs every test.
# Both start an ephemeral PostgreSQL (scripts/with-postgres.sh) unless
# ISSUER_DATABASE_URL is set, and install the server with apt-get if missing;
# `make test` also installs promtool (Debian's prometheus) for the alert rules
# and Debian's chromium for the console's browser tests.

GO          ?= go
BIN         := bin/issuer
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null)
WITH_PG     := scripts/with-postgres.sh
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.DEFAULT_GOAL := help

.PHONY: help build test demo bench lint clean campaign

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/issuer
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/issuer

test: ## run every test (race detector on) against a real PostgreSQL; promtool checks the alert rules, headless Chromium the console
	scripts/need.sh promtool prometheus
	scripts/need.sh chromium chromium
	ISSUER_REQUIRE_PROMTOOL=1 ISSUER_REQUIRE_CHROMIUM=1 $(WITH_PG) $(GO) test -race -count=1 -timeout 30m ./...

demo: build ## run the whole pipeline on sample data; writes ./out/
	$(WITH_PG) scripts/demo.sh

bench: build ## print the performance figures (import, issue, reconcile, crypto)
	$(WITH_PG) scripts/bench.sh

# The seeded fault campaign (internal/campaign): SEED=S plays one seed,
# N=200 plays seeds FROM..FROM+N-1 (FROM defaults to 1) and prints the table,
# SCENARIO=FILE plays a kept scenario (internal/campaign/testdata/regressions);
# none of them plays what `make test` plays: the kept scenarios and a few
# seeds. PARALLEL seeds at a time (default 2), each with its own PostgreSQL.
SEED     ?=
N        ?=
FROM     ?= 1
SCENARIO ?=
PARALLEL ?= 2

campaign: ## the seeded fault campaign: SEED=S reproduces one seed, N=200 runs 200 and prints the table
	$(GO) test -c -o bin/campaign.test ./internal/campaign
	cd internal/campaign && ../../$(WITH_PG) ../../bin/campaign.test -test.run '^TestCampaign$$' -test.timeout 0 \
		-test.parallel $(PARALLEL) $(if $(SEED),-seed $(SEED)) $(if $(N),-n $(N) -from $(FROM)) \
		$(if $(SCENARIO),-scenario $(abspath $(SCENARIO)))

lint: ## gofmt, go vet, staticcheck, go mod tidy
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@$(GO) mod tidy -diff || { echo "go mod tidy: go.mod or go.sum is not tidy (diff above)"; exit 1; }

clean: ## remove build output and demo output
	rm -rf bin out
