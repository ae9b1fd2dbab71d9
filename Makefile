# Footfall: `make run` starts one node with data in ./data; `make test` runs the whole suite.
SHELL := /bin/bash
DEBIAN_PACKAGES := librocksdb-dev libssl-dev libmaxminddb-dev libgeoip-dev geoip-database protobuf-compiler pkg-config
# What the tests need beyond the build: a Python to write the geo fixture, curl and openssl for
# the HTTPS test, grpcio and cryptography for the independent mutual-TLS client of the cluster
# test, headless chromium and selenium for the dashboard's browser test, Node.js for the dashboard
# modules' unit tests.
TEST_DEBIAN_PACKAGES := python3 python3-pip curl openssl chromium chromium-driver nodejs
TEST_PYTHON_PACKAGES := mmdb-writer netaddr grpcio grpcio-tools cryptography selenium
FIXTURES := .build/fixtures
SWIFT ?= swift

.PHONY: run build deps test-deps fixtures test proto proto-check simulate differential upgrade-test cluster-detect cluster-measure chaos chaos-quick bench-deps bench-build bench bench-short ingest-ab soak scale fuzz-build fuzz fuzz-seeds clean

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

test-deps: deps
	@$(MAKE) --no-print-directory deps DEBIAN_PACKAGES="$(TEST_DEBIAN_PACKAGES)"
	@python3 -c "import mmdb_writer, netaddr, grpc, grpc_tools, cryptography, selenium" 2>/dev/null || python3 -m pip install -q $(TEST_PYTHON_PACKAGES) \
	  || python3 -m pip install -q --break-system-packages $(TEST_PYTHON_PACKAGES)

# Test data the suite builds itself: a small MaxMind database (see Tests/Fixtures).
fixtures: test-deps
	@mkdir -p $(FIXTURES)
	python3 Tests/Fixtures/make-geo-mmdb.py $(FIXTURES)/geo-test.mmdb

# The dashboard's pure modules (formatting, dates, routing) under Node's own test runner; unit,
# storage, node and simulation tests (200 seeds per simulated scenario); one node killed with
# SIGKILL mid-ingest and restarted, which must hold every hit it acknowledged
# (Tests/Durability/kill_test.py); one node whose disk fills up (Tests/Durability/disk_full_test.py,
# on a tmpfs it mounts: root, as CI is); one whose files are damaged (Tests/Durability/corruption_test.py); then three real nodes on loopback: membership (Tests/Cluster/cluster_test.py) and replication
# (Tests/Cluster/replication_test.py); two nodes sent hostile messages with a valid node
# certificate (Tests/Cluster/hostile_peer_test.py); a node backed up under load, its disk lost and
# restored (Tests/Cluster/backup_test.py); a removed node started again on its old folder
# (Tests/Cluster/returning_node_test.py) and told of its removal only after its join
# (Tests/Cluster/removal_race_test.py); a second process started under a live node's name
# (Tests/Cluster/name_conflict_test.py); a founder whose clock is ten minutes behind
# (Tests/Cluster/clock_test.py); certificates renewed and expiring while nodes serve
# (Tests/Cluster/cert_rotation_test.py); then the dashboard and the tracker in headless chromium
# (Tests/Browser/dashboard_test.py; screenshots in .build/browser/screenshots).
test: test-deps proto-check fixtures
	node --test Tests/Dashboard/*.test.mjs
	$(SWIFT) build --build-tests
	FOOTFALL_TEST_GEO_MMDB=$(CURDIR)/$(FIXTURES)/geo-test.mmdb $(SWIFT) test --skip-build
	python3 Tests/Durability/kill_test.py --footfall .build/debug/footfall
	python3 Tests/Durability/disk_full_test.py --footfall .build/debug/footfall
	python3 Tests/Durability/corruption_test.py --footfall .build/debug/footfall
	python3 Tests/Cluster/settings_test.py --footfall .build/debug/footfall
	python3 Tests/Cluster/cluster_test.py --footfall .build/debug/footfall
	python3 Tests/Cluster/replication_test.py --footfall .build/debug/footfall
	python3 Tests/Cluster/hostile_peer_test.py --footfall .build/debug/footfall
	python3 Tests/Cluster/backup_test.py --footfall .build/debug/footfall
	python3 Tests/Cluster/returning_node_test.py --footfall .build/debug/footfall
	python3 Tests/Cluster/removal_race_test.py --footfall .build/debug/footfall
	python3 Tests/Cluster/name_conflict_test.py --footfall .build/debug/footfall
	python3 Tests/Cluster/clock_test.py --footfall .build/debug/footfall
	python3 Tests/Cluster/cert_rotation_test.py --footfall .build/debug/footfall
	python3 Tests/Browser/dashboard_test.py --footfall .build/debug/footfall

# The simulated cluster over many more seeds: FOOTFALL_SIM_SEEDS per membership scenario (2,000)
# and FOOTFALL_REPLICATION_SEEDS replication runs (10,000), seeds on every core. A release build of
# the tests, in a scratch folder of its own so the debug and release products are not rebuilt
# (its first build takes 10-20 minutes; -enable-testing for the tests' @testable imports); the
# simulation runs several times faster than in debug.
SIMULATE_BUILD := --configuration release --scratch-path .build-simulate -Xswiftc -enable-testing
simulate: deps
	$(SWIFT) build --build-tests $(SIMULATE_BUILD)
	FOOTFALL_SIM_SEEDS=$${FOOTFALL_SIM_SEEDS:-2000} FOOTFALL_REPLICATION_SEEDS=$${FOOTFALL_REPLICATION_SEEDS:-10000} \
	  $(SWIFT) test --skip-build $(SIMULATE_BUILD) --filter SimulationTests

# The query engine over a real store against the row reference (EngineDifferentialTests) over many
# more seeds than make test's 12: FOOTFALL_DIFF_SEEDS sets how many.
differential: deps
	$(SWIFT) build --build-tests
	FOOTFALL_DIFF_SEEDS=$${FOOTFALL_DIFF_SEEDS:-500} $(SWIFT) test --skip-build --filter EngineDifferentialTests

# A rolling upgrade from the previous release (Tests/Cluster/upgrade_test.py): three nodes of
# PREVIOUS_RELEASE replaced one at a time by this version's debug build, writes, reads, erasures and
# repair across versions. The previous release is built from its commit once, into
# .build/upgrade/<tag> (a clean release build: 10-20 minutes), then reused. The commit is named
# here as well as by the tag because a clone does not always carry tags; where the tag exists it
# must name the same commit.
PREVIOUS_RELEASE := v0.24.0
PREVIOUS_RELEASE_COMMIT := 3aba45ae3169d9f143fc86a906ec9b9822698aad
upgrade-test: deps test-deps
	$(SWIFT) build --product footfall
	@tagged=$$(git rev-parse -q --verify "refs/tags/$(PREVIOUS_RELEASE)^{commit}"); \
	  [ -z "$$tagged" ] || [ "$$tagged" = "$(PREVIOUS_RELEASE_COMMIT)" ] \
	  || { echo "upgrade-test: the tag $(PREVIOUS_RELEASE) names $$tagged, not $(PREVIOUS_RELEASE_COMMIT)"; exit 1; }
	@git cat-file -e "$(PREVIOUS_RELEASE_COMMIT)^{commit}" 2>/dev/null \
	  || { echo "upgrade-test: commit $(PREVIOUS_RELEASE_COMMIT) ($(PREVIOUS_RELEASE)) is missing (a shallow clone? git fetch --unshallow)"; exit 1; }
	@[ -d .build/upgrade/$(PREVIOUS_RELEASE) ] || git worktree add --detach .build/upgrade/$(PREVIOUS_RELEASE) $(PREVIOUS_RELEASE_COMMIT)
	@[ "$$(git -C .build/upgrade/$(PREVIOUS_RELEASE) rev-parse HEAD)" = "$(PREVIOUS_RELEASE_COMMIT)" ] \
	  || { echo "upgrade-test: .build/upgrade/$(PREVIOUS_RELEASE) is not at $(PREVIOUS_RELEASE_COMMIT); remove it (git worktree remove --force)"; exit 1; }
	cd .build/upgrade/$(PREVIOUS_RELEASE) && $(SWIFT) build -c release --product footfall
	python3 Tests/Cluster/upgrade_test.py --footfall .build/debug/footfall --previous .build/upgrade/$(PREVIOUS_RELEASE)/.build/release/footfall

# Failure detection of real release nodes over 20 kills, and false positives under a minute of load.
cluster-detect: build test-deps
	python3 Tests/Cluster/cluster_test.py --footfall .build/release/footfall --kills 20 --load-seconds 60

# Cluster ingest, query latency through a non-owner and convergence after a return, on a
# release build (numbers for notes; not a test).
cluster-measure: build test-deps
	python3 Tests/Cluster/measure_cluster.py --footfall .build/release/footfall

# The chaos suite (Chaos/, root only): five real nodes in network namespaces under kills, pauses,
# partitions, loss, CPU starvation and clock skew; checkers prove nothing acknowledged is lost and
# nothing erased returns. Prints one table. SEED=N replays a run, ONLY=name one scenario.
CHAOS_ARGS = $(if $(SEED),--seed $(SEED)) $(if $(ONLY),--only $(ONLY))
chaos: test-deps
	$(SWIFT) build --product footfall
	python3 Chaos/chaos.py --footfall .build/debug/footfall $(CHAOS_ARGS)

# Three of the scenarios (under five minutes); CI runs it after `make test`.
chaos-quick: test-deps
	$(SWIFT) build --product footfall
	python3 Chaos/chaos.py --footfall .build/debug/footfall --quick $(CHAOS_ARGS)

# Benchmarks (Bench/, root only): the peers Footfall is measured against — DuckDB, PostgreSQL and
# RocksDB's db_bench — on one seeded data set (10 M events; bench-short: 200 k, to check the
# harness, not the speed). Prints one table, writes .build/bench/results.json.
BENCH_DEBIAN_PACKAGES := rocksdb-tools postgresql wrk
BENCH_PYTHON_PACKAGES := duckdb psycopg2-binary
bench-deps: test-deps
	@$(MAKE) --no-print-directory deps DEBIAN_PACKAGES="$(BENCH_DEBIAN_PACKAGES)"
	@python3 -c "import duckdb, psycopg2" 2>/dev/null || python3 -m pip install -q $(BENCH_PYTHON_PACKAGES) \
	  || python3 -m pip install -q --break-system-packages $(BENCH_PYTHON_PACKAGES)

bench: bench-deps bench-build
	python3 Bench/bench.py $(if $(SEED),--seed $(SEED))

bench-short: bench-deps bench-build
	python3 Bench/bench.py --short

# HTTP ingest of this tree's release build against another's (OLD=path/to/.build/release), in
# interleaved rounds on fresh stores: how a write-path change is measured (Bench/ingest_ab.py).
ingest-ab: bench-deps bench-build
	python3 Bench/ingest_ab.py --old "$(OLD)" $(if $(ROUNDS),--rounds $(ROUNDS))

# Ten minutes of three release nodes at 80 % of the ingest they were measured to take, with reports,
# erasures and one kill -9: memory, open files and report latency must stay flat (Bench/soak.py).
# Writes .build/soak.svg and .build/soak.json. MINUTES=N changes the length.
soak: test-deps
	$(SWIFT) build -c release --product footfall
	python3 Bench/soak.py $(if $(MINUTES),--minutes $(MINUTES))

# 100,000 small sites on three release nodes: a repair pass compares them by summaries and
# exchanges only the sites that differ, and the site cache and memory stay within their bounds
# (Bench/scale.py; SITES=N changes the count). Writes .build/scale.json.
scale: test-deps
	$(SWIFT) build -c release --product footfall
	python3 Bench/scale.py $(if $(SITES),--sites $(SITES))

# Release builds only: debug code runs several times slower and would measure the compiler.
bench-build: deps
	$(SWIFT) build -c release --product footfall
	$(SWIFT) build -c release --product footfall-bench

# Fuzzing (README "Fuzzing"): every decoder a stranger or a peer reaches, each target run under
# libFuzzer with AddressSanitizer and LeakSanitizer for FUZZ_RUNS executions (10 M by default),
# two at a time. FUZZ_ONLY="name …" runs some targets; FUZZ_WORKERS=N splits each one's executions
# over N processes sharing its corpus. Reports in .build-fuzz/fuzz/.
FUZZ_RUNS ?= 10000000
fuzz-build: deps
	FOOTFALL_FUZZ=1 $(SWIFT) build -c release --scratch-path .build-fuzz --product footfall-fuzz

fuzz: fuzz-build
	python3 Fuzz/run.py --fuzzer .build-fuzz/release/footfall-fuzz --runs $(FUZZ_RUNS) $(if $(FUZZ_WORKERS),--workers $(FUZZ_WORKERS)) $(FUZZ_ONLY)

# Rewrites the committed seed corpora (Fuzz/Corpus) from the targets' seed builders.
fuzz-seeds: fuzz-build
	rm -rf Fuzz/Corpus
	FOOTFALL_FUZZ_WRITE_SEEDS=Fuzz/Corpus .build-fuzz/release/footfall-fuzz

clean:
	rm -rf .build .build-*
