# tessera: two commands for a newcomer on a fresh Debian machine.
#
#   make test   install missing system packages, build the C guests, check
#               formatting, vet, and run every Go test
#   make run    build the tessera command and run an example function once
#               in a fresh sandbox on the best backend this machine has
#
# Everything built goes to build/ (never committed).

GO      ?= go
BUILD   ?= build
BIN     := $(BUILD)/bin

.PHONY: all test deps guests fmt vet gotest run bench bench-peers tools clean

all: tools guests

test: deps guests fmt vet gotest

deps:
	@scripts/deps.sh

fmt:
	@out="$$(gofmt -l $$(find . -name '*.go' -not -path './build/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt wants to reformat:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

gotest:
	$(GO) test ./...

tools:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

# The guest C library (newlib + hooks) and the example functions.
include hlibc/hlibc.mk
include guest/guest.mk

run: deps guests tools
	$(BIN)/tessera run -in 'stdio/argv=stdio hello from a fresh sandbox' \
		-in 'stdio/stdin=@README.md' -outputs stdio $(BUILD)/guests/x86-64/stdio

# Cold starts on this machine, every backend against its floor and peers.
bench: deps guests tools
	$(BIN)/sandboxbench -n 2000 -plot $(BUILD)/bench

# The peer sandboxes sandboxbench compares with (bubblewrap, crun, runc, runsc).
bench-peers:
	@scripts/peers.sh

clean:
	rm -rf $(BUILD)
