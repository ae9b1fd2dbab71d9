# Footfall: `make run` starts one node with data in ./data; `make test` runs the whole suite.
SHELL := /bin/bash
DEBIAN_PACKAGES := librocksdb-dev libssl-dev libmaxminddb-dev libgeoip-dev geoip-database protobuf-compiler pkg-config
SWIFT ?= swift

.PHONY: run build deps test proto proto-check clean

# Installs the Debian packages the build and the node need, only those that are missing.
deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	$(SWIFT) build -c release --product footfall

run: build
	.build/release/footfall serve

# Regenerates Sources/FootfallWire from Proto/ (commit the result).
proto: deps
	./Proto/generate.sh

# Fails when the committed generated code differs from what Proto/ generates.
proto-check: deps
	@tmp=$$(mktemp -d); ./Proto/generate.sh "$$tmp" && diff -ru Sources/FootfallWire/Generated "$$tmp" \
	  && echo "proto-check: generated code matches Proto/" ; status=$$?; rm -rf "$$tmp"; exit $$status

test: deps proto-check
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

clean:
	rm -rf .build .build-*
