# stuffed: `make demo` mounts the local store at ./mnt; `make test` runs every test.
# Both install what they need on a fresh Debian machine (run as root for the apt packages).

GO      ?= go
TOOLS   := $(CURDIR)/.tools/bin
NODEBIN := $(CURDIR)/test/node_modules/.bin
export PATH := $(TOOLS):$(NODEBIN):$(PATH)

REGCTL_VERSION := v0.11.7
ORAS_VERSION   := v1.3.6
WAZERO_VERSION := v1.12.0

.PHONY: build demo test bench tools system-packages fmt clean

build:
	$(GO) build -o bin/stuffedfs ./cmd/stuffedfs

# Publish the example component to the local store (no server) and mount it at ./mnt.
demo: build
	mkdir -p mnt
	bin/stuffedfs push --reference hello/world:v1 --root-path test/testdata/hello.component.wasm
	bin/stuffedfs push --reference hello/core:v1 --root-path test/testdata/hello.core.wasm
	@echo "mounting the local store at ./mnt; in another shell: ls -l mnt/hello/world/v1"
	bin/stuffedfs mount mnt

test: build tools
	$(GO) vet ./...
	test -z "$$(gofmt -l .)" || { gofmt -l .; echo "run gofmt -w ."; exit 1; }
	$(GO) test -race -count=1 -timeout 15m $(TESTFLAGS) ./...

tools: system-packages $(TOOLS)/regctl $(TOOLS)/oras $(TOOLS)/wazero $(NODEBIN)/jco

# CNCF Distribution 2.8 (a real registry process) and fusermount3 for non-root mounts.
system-packages:
	@command -v docker-registry >/dev/null && command -v fusermount3 >/dev/null || { \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-registry fuse3; }

$(TOOLS)/regctl:
	GOBIN=$(TOOLS) $(GO) install github.com/regclient/regclient/cmd/regctl@$(REGCTL_VERSION)
$(TOOLS)/oras:
	GOBIN=$(TOOLS) $(GO) install oras.land/oras/cmd/oras@$(ORAS_VERSION)
$(TOOLS)/wazero:
	GOBIN=$(TOOLS) $(GO) install github.com/tetratelabs/wazero/cmd/wazero@$(WAZERO_VERSION)
$(NODEBIN)/jco:
	cd test && npm ci --no-audit --no-fund

fmt:
	gofmt -w .

clean:
	rm -rf bin .tools test/node_modules

# Speed and memory against peers in the same run (not part of `make test`).
bench: build tools
	$(GO) test -run '^$$' -bench . -benchtime 5x -timeout 30m ./test
