# locus — build, test, benchmark.
#
#   make run     build and run locus on the embedded defaults
#   make test    everything CI runs: installs test dependencies, gofmt, vet,
#                race tests (fuzz targets replay their seed corpora)
#   make fuzz    a fuzzing campaign over every fuzz target
#   make bench   Go benchmarks of the hot paths
#   make bench-load  locus and Kamailio side by side under sipp load
#                (bench/run.sh; installs sipp and Kamailio when missing)

GO        ?= go
FUZZTIME  ?= 200000x
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -X main.version=$(VERSION)

.PHONY: all build run test deps fmt-check vet test-go fuzz bench bench-load clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o locus ./cmd/locus

run: build
	./locus run

test: deps fmt-check vet test-go

# Real peers and servers for the tests, from Debian: sipp (sip-tester),
# sipsak, redis-server, PostgreSQL and sipvicious (svcrack, for the
# flood-ban example). Each is installed only when missing.
DEB_NEEDS := sipp:sip-tester sipsak:sipsak redis-server:redis-server initdb:postgresql svcrack:sipvicious
deps:
	@missing=""; \
	for pair in $(DEB_NEEDS); do \
		bin=$${pair%%:*}; pkg=$${pair#*:}; \
		if ! command -v $$bin >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/$$bin >/dev/null 2>&1; then \
			missing="$$missing $$pkg"; \
		fi; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing from Debian:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@for pair in $(DEB_NEEDS); do \
		bin=$${pair%%:*}; \
		command -v $$bin >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/$$bin >/dev/null 2>&1 || \
			{ echo "$$bin is required for the tests"; exit 1; }; \
	done
	$(GO) mod download

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# LOCUS_ZERO_RELEASED_REQUESTS: the UDP listener zeroes each request's
# memory after routing instead of reusing it, so that code keeping a
# request without Msg.Retain fails the tests (and the race detector sees
# the write) instead of reading whatever request came next.
test-go:
	LOCUS_ZERO_RELEASED_REQUESTS=1 $(GO) test -race -count=1 -timeout 15m ./...

# Every native fuzz target for FUZZTIME each. Not part of `make test`: a
# new finding is a bug to fix and a corpus entry to commit (testdata/fuzz),
# which `go test` then replays on every run. The budget is a count of
# executions, not a duration: Go 1.26's fuzz coordinator
# can report a spurious "context deadline exceeded" when a -fuzztime
# duration ends under CPU contention (go.dev/issue/75804).
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		dir=$$(dirname $$f); \
		for fn in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
			echo "fuzz $$dir $$fn ($(FUZZTIME))"; \
			log=$$(mktemp); \
			if ! $(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) ./$$dir >$$log 2>&1; then \
				cat $$log; rm -f $$log; exit 1; \
			fi; rm -f $$log; \
		done; \
	done

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

# The load harness: bench/README.md lists its knobs (STORE, RATES, ...),
# passed through the environment.
bench-load:
	bench/run.sh

clean:
	rm -f locus
