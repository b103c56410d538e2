# sluice: plain Makefile. `make` builds ./sluice; `make test` runs the Check suites (unit and
# integration, one runner), then the request-path fuzzer for FUZZ_SECONDS; `make asan` runs the
# same suites under ASan + UBSan; `make fuzz` builds the libFuzzer target alone (clang).
# Two install lists: `make deps` what building and running need, `make test-deps` the test
# tools on top. Only the test runner (t/) needs Check; ./sluice builds without it.

CC      ?= cc
PKGS    := openssl inih
CFLAGS  := -std=gnu11 -Wall -Wextra -Werror -O2 -g -I. -D_GNU_SOURCE
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
BUILD   ?= build/release
BIN     ?= sluice
EXTRA_CFLAGS ?=
EXTRA_LDFLAGS ?=

# Debian packages: what building and running ./sluice need (`make deps`, which `make run`
# calls), then the test tools (`make test-deps`, which `make test` and `make asan` call).
DEB_BUILD := gcc libc6-dev make pkg-config libssl-dev libhttp-parser-dev libinih-dev
DEB_TEST  := check curl openssl procps clang libclang-rt-14-dev clang-format haproxy

SRC_COMMON := $(sort $(wildcard common/*.c))
SRC_WORKER := $(sort $(wildcard worker/*.c))
SRC_MASTER := $(sort $(wildcard master/*.c))
SRC_TEST   := $(sort $(wildcard t/*.c t/unit/*.c t/integ/*.c))

OBJ_LIB  := $(patsubst %.c,$(BUILD)/%.o,$(SRC_COMMON) $(SRC_WORKER))
OBJ_MAIN := $(patsubst %.c,$(BUILD)/%.o,$(SRC_MASTER))
OBJ_TEST := $(patsubst %.c,$(BUILD)/%.o,$(SRC_TEST))
# Application modules (shared objects): the examples, and the test suite's own.
EXAMPLES   := $(patsubst examples/%.c,$(BUILD)/examples/%.so,$(sort $(wildcard examples/*.c)))
TMODULES   := $(patsubst t/modules/%.c,$(BUILD)/t/modules/%.so,$(sort $(wildcard t/modules/*.c)))

.PHONY: all deps test-deps check-deps check-test-deps check-fuzz-deps run test asan fuzz fuzz-run \
  bench format format-check layers install-debs clean asan-modules
.DEFAULT_GOAL := all

all: check-deps $(BIN) $(EXAMPLES)

# One line naming the first missing package, and how to get it.
check-deps:
	@command -v pkg-config >/dev/null 2>&1 || { echo "sluice: missing Debian package pkg-config: run 'make deps'"; exit 1; }
	@pkg-config --exists openssl || { echo "sluice: missing Debian package libssl-dev: run 'make deps'"; exit 1; }
	@pkg-config --exists inih    || { echo "sluice: missing Debian package libinih-dev: run 'make deps'"; exit 1; }
	@echo '#include <http_parser.h>' | $(CC) -E -x c - >/dev/null 2>&1 || { echo "sluice: missing Debian package libhttp-parser-dev: run 'make deps'"; exit 1; }

# The test runner's own: Check (t/ only).
check-test-deps: check-deps
	@pkg-config --exists check || { echo "sluice: missing Debian package check: run 'make test-deps'"; exit 1; }

# Install only what is missing of a list; do nothing when everything is there.
deps:
	@$(MAKE) --no-print-directory install-debs DEBS="$(DEB_BUILD)"

# Both lists at once: one apt-get run on a fresh machine.
test-deps:
	@$(MAKE) --no-print-directory install-debs DEBS="$(DEB_BUILD) $(DEB_TEST)"

install-debs:
	@missing=""; \
	for p in $(DEBS); do \
	  dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null | grep -qx installed || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "sluice: all Debian packages present"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "sluice: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "sluice: missing packages; run: sudo apt-get install -y$$missing"; exit 1; \
	fi

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) $(shell pkg-config --cflags $(PKGS)) -MMD -MP -c $< -o $@

# The tests alone need Check.
$(OBJ_TEST): PKGS += check
$(OBJ_TEST): | check-test-deps

# Application modules resolve their sl_* calls against the binary: those symbols (and only
# those) are exported.
LDEXPORT := -Wl,--export-dynamic-symbol=sl_*

$(BIN): $(OBJ_MAIN) $(OBJ_LIB)
	$(CC) $(EXTRA_CFLAGS) $(LDEXPORT) -o $@ $^ $(EXTRA_LDFLAGS) $(shell pkg-config --libs openssl inih) -lhttp_parser -ldl

# Application modules: the examples (examples/*.c, built by `make`) and the test suite's
# hostile ones (t/modules/*.c), each one shared object built against include/sluice.h alone,
# as a user's module is.
MOD_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -g -fPIC -shared -Iinclude
$(BUILD)/examples/%.so: examples/%.c include/sluice.h
	@mkdir -p $(dir $@)
	$(CC) $(MOD_CFLAGS) $(EXTRA_CFLAGS) $< -o $@
$(BUILD)/t/modules/%.so: t/modules/%.c include/sluice.h
	@mkdir -p $(dir $@)
	$(CC) $(MOD_CFLAGS) $(EXTRA_CFLAGS) $< -o $@

# The test build of the server: ./sluice plus the test-only handlers of t/app/ (routes under
# /_t/, registered with route_builtin), for the request/response seam's integration tests.
OBJ_APP := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard t/app/*.c)))
$(BUILD)/sluice-t: $(OBJ_MAIN) $(OBJ_LIB) $(OBJ_APP)
	$(CC) $(EXTRA_CFLAGS) $(LDEXPORT) -o $@ $^ $(EXTRA_LDFLAGS) $(shell pkg-config --libs openssl inih) -lhttp_parser -ldl

# The master's pieces the unit tests link (relay.c: mapping and relaying hand-overs; modcheck.c:
# reading the module check's report).
OBJ_UNIT_MASTER := $(BUILD)/master/relay.o $(BUILD)/master/modcheck.o
$(BUILD)/t/run: $(OBJ_TEST) $(OBJ_LIB) $(OBJ_UNIT_MASTER) | check-test-deps
	$(CC) $(EXTRA_CFLAGS) $(LDEXPORT) -o $@ $^ $(EXTRA_LDFLAGS) $(shell pkg-config --libs $(PKGS) check) \
	  -lhttp_parser -ldl

# Serves www/ on http://127.0.0.1:8080 in the foreground with the built-in defaults.
run: deps
	@$(MAKE) --no-print-directory all
	./$(BIN)

test: test-deps
	@$(MAKE) --no-print-directory format-check layers all $(BUILD)/sluice-t $(BUILD)/t/run $(TMODULES)
	SLUICE_BIN=./$(BIN) SLUICE_TEST_BIN=./$(BUILD)/sluice-t SLUICE_BUILD=./$(BUILD) ./$(BUILD)/t/run
	@$(MAKE) --no-print-directory fuzz-run

asan: test-deps
	@$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/sluice \
	  EXTRA_CFLAGS="$(SAN) -O1 -DSLUICE_CHECK_PROGRESS" EXTRA_LDFLAGS="$(SAN)" \
	  build/asan/sluice build/asan/sluice-t build/asan/t/run asan-modules
	ASAN_OPTIONS=abort_on_error=0:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  SLUICE_BIN=./build/asan/sluice SLUICE_TEST_BIN=./build/asan/sluice-t SLUICE_BUILD=./build/asan \
	  ./build/asan/t/run

# The examples and test modules of a BUILD (the asan target builds them with the sanitizers).
asan-modules: $(EXAMPLES) $(TMODULES)

# The request-path fuzzer (t/fuzz/fuzz_http.c): common/, worker/ and the test build's handlers
# (t/app/, routes under /_t/) built again with clang and the sanitizers, linked with libFuzzer.
# The target learns what each request got from the log phase (req_log_add), not from wraps;
# SLUICE_CHECK_PROGRESS makes conn.c assert its own wake-up rule beside the harness's. Other
# people's files get the warnings but not -Werror here, so a clang-only warning cannot fail
# `make test`; gcc's -Werror build guards them.
FUZZ_CC      ?= clang
FUZZ_DIR     := build/fuzz
FUZZ_BIN     := $(FUZZ_DIR)/fuzz_http
FUZZ_SECONDS ?= 60
FUZZ_SEED    ?= 1
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=gnu11 -Wall -Wextra -g -O1 -I. -D_GNU_SOURCE -DSLUICE_CHECK_PROGRESS $(FUZZ_SAN)
FUZZ_OBJ     := $(patsubst %.c,$(FUZZ_DIR)/%.o,$(SRC_COMMON) $(SRC_WORKER))
FUZZ_HARNESS := $(patsubst %.c,$(FUZZ_DIR)/%.o,$(sort $(wildcard t/fuzz/*.c)))
FUZZ_APP     := $(patsubst %.c,$(FUZZ_DIR)/%.o,$(sort $(wildcard t/app/*.c)))

check-fuzz-deps:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { echo "sluice: missing Debian package clang: run 'make test-deps'"; exit 1; }
	@echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' | \
	  $(FUZZ_CC) -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null || \
	  { echo "sluice: missing Debian package libclang-rt-14-dev (libFuzzer): run 'make test-deps'"; exit 1; }

$(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(shell pkg-config --cflags inih) -MMD -MP -c $< -o $@

$(FUZZ_DIR)/t/fuzz/%.o: t/fuzz/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer -MMD -MP -c $< -o $@

$(FUZZ_BIN): $(FUZZ_HARNESS) $(FUZZ_APP) $(FUZZ_OBJ)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(shell pkg-config --libs openssl inih) -lhttp_parser

fuzz: check-deps check-fuzz-deps $(FUZZ_BIN)

# FUZZ_SECONDS of fuzzing from a fresh copy of the seed corpus, with a fixed seed. The log goes
# to build/fuzz/run.log; a crash, leak, sanitizer report or invariant violation fails the make
# and leaves the reproducer in build/fuzz/artifacts/. The target's temporary document root lives
# in build/fuzz/tmp, so one left behind by a crash goes with the next run.
fuzz-run: fuzz
	@rm -rf $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts $(FUZZ_DIR)/tmp
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts $(FUZZ_DIR)/tmp
	@cp t/fuzz/corpus/* $(FUZZ_DIR)/corpus/
	@echo "fuzz_http: $(FUZZ_SECONDS) s, seed $(FUZZ_SEED), log in $(FUZZ_DIR)/run.log"
	@TMPDIR=$(CURDIR)/$(FUZZ_DIR)/tmp \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ./$(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -seed=$(FUZZ_SEED) -timeout=25 \
	  -dict=t/fuzz/http.dict -artifact_prefix=$(FUZZ_DIR)/artifacts/ -print_final_stats=1 \
	  $(FUZZ_DIR)/corpus >$(FUZZ_DIR)/run.log 2>&1; \
	rc=$$?; \
	if [ $$rc -ne 0 ]; then \
	  tail -n 60 $(FUZZ_DIR)/run.log; \
	  echo "fuzz_http: FAILED (exit $$rc); reproducer: $$(ls $(FUZZ_DIR)/artifacts/* 2>/dev/null)"; \
	  echo "  rerun with: ./$(FUZZ_BIN) FILE   (FUZZ_HTTP_LOG=1 for the worker's debug log)"; \
	  exit 1; \
	fi; \
	grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' $(FUZZ_DIR)/run.log | tr '\n' ' '; \
	echo; echo "fuzz_http: passed"

# Benchmarks (never part of the pass/fail suite): t/bench/table runs every t/bench script
# (requests/s and p99 with wrk, syscalls and instructions per request, idle memory per
# connection, slow downloads, failed requests over reloads), sluice beside nginx, and prints
# one table with the targets. `make bench` is the short version (under 2 minutes here, the
# table also in build/bench/RESULTS-quick.md); `make bench FULL=1` the full one (about 14
# minutes), written to t/bench/RESULTS.md. The scripts install what they compare against
# (nginx, wrk, h2load) when missing.
FULL ?=
bench: all
	t/bench/table $(if $(FULL),--full) --command "make bench$(if $(FULL), FULL=$(FULL))"

# Every C file of the tree, formatted with the root .clang-format; `make test` fails on one
# that is not, and names it.
FORMAT_FILES = $(SRC_COMMON) $(SRC_WORKER) $(SRC_MASTER) $(SRC_TEST) $(wildcard t/fuzz/*.c t/app/*.c) \
  $(wildcard examples/*.c t/modules/*.c) \
  $(wildcard */*.h t/*/*.h)

format:
	clang-format -i $(FORMAT_FILES)

# The include rules (t/layers.sh): no include cycle, worker/ never includes master/, only
# worker/http.c includes http_parser.h.
layers:
	@sh t/layers.sh

format-check:
	@command -v clang-format >/dev/null 2>&1 || { echo "sluice: missing Debian package clang-format: run 'make test-deps'"; exit 1; }
	@bad=$$(for f in $(FORMAT_FILES); do \
	  clang-format --dry-run --Werror $$f >/dev/null 2>&1 || echo $$f; done); \
	if [ -n "$$bad" ]; then echo "sluice: not formatted (run 'make format'):" $$bad; exit 1; fi

clean:
	rm -rf build $(BIN)

-include $(shell find build -name '*.d' 2>/dev/null)
