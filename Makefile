# sluice: plain Makefile. `make` builds ./sluice; `make test` runs the Check suites (unit and
# integration, one runner); `make asan` runs the same suites under ASan + UBSan.

CC      ?= cc
PKGS    := openssl inih check
CFLAGS  := -std=gnu11 -Wall -Wextra -Werror -O2 -g -I. -D_GNU_SOURCE
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
BUILD   ?= build/release
BIN     ?= sluice
EXTRA_CFLAGS ?=
EXTRA_LDFLAGS ?=

# Debian packages: what the build needs, then what the tests and `make run` use.
DEB_BUILD := gcc libc6-dev make pkg-config libssl-dev libhttp-parser-dev libinih-dev check
DEB_TOOLS := curl openssl procps
DEB_ALL   := $(DEB_BUILD) $(DEB_TOOLS)

SRC_COMMON := $(sort $(wildcard common/*.c))
SRC_WORKER := $(sort $(wildcard worker/*.c))
SRC_MASTER := $(sort $(wildcard master/*.c))
SRC_TEST   := $(sort $(wildcard t/*.c t/unit/*.c t/integ/*.c))

OBJ_LIB  := $(patsubst %.c,$(BUILD)/%.o,$(SRC_COMMON) $(SRC_WORKER))
OBJ_MAIN := $(patsubst %.c,$(BUILD)/%.o,$(SRC_MASTER))
OBJ_TEST := $(patsubst %.c,$(BUILD)/%.o,$(SRC_TEST))

.PHONY: all deps check-deps run test asan format clean
.DEFAULT_GOAL := all

all: check-deps $(BIN)

# One line naming the first missing package, and how to get it.
check-deps:
	@command -v pkg-config >/dev/null 2>&1 || { echo "sluice: missing Debian package pkg-config: run 'make deps'"; exit 1; }
	@pkg-config --exists openssl || { echo "sluice: missing Debian package libssl-dev: run 'make deps'"; exit 1; }
	@pkg-config --exists inih    || { echo "sluice: missing Debian package libinih-dev: run 'make deps'"; exit 1; }
	@pkg-config --exists check   || { echo "sluice: missing Debian package check: run 'make deps'"; exit 1; }
	@echo '#include <http_parser.h>' | $(CC) -E -x c - >/dev/null 2>&1 || { echo "sluice: missing Debian package libhttp-parser-dev: run 'make deps'"; exit 1; }

# Installs only what is missing; does nothing when everything is there.
deps:
	@missing=""; \
	for p in $(DEB_ALL); do \
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

$(BIN): $(OBJ_MAIN) $(OBJ_LIB)
	$(CC) $(EXTRA_CFLAGS) -o $@ $^ $(EXTRA_LDFLAGS) $(shell pkg-config --libs openssl inih) -lhttp_parser

$(BUILD)/t/run: $(OBJ_TEST) $(OBJ_LIB)
	$(CC) $(EXTRA_CFLAGS) -o $@ $^ $(EXTRA_LDFLAGS) $(shell pkg-config --libs $(PKGS)) -lhttp_parser

# Serves www/ on http://127.0.0.1:8080 in the foreground with the built-in defaults.
run: deps
	@$(MAKE) --no-print-directory all
	./$(BIN)

test: deps
	@$(MAKE) --no-print-directory all $(BUILD)/t/run
	SLUICE_BIN=./$(BIN) ./$(BUILD)/t/run

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/sluice \
	  EXTRA_CFLAGS="$(SAN) -O1" EXTRA_LDFLAGS="$(SAN)" build/asan/sluice build/asan/t/run
	ASAN_OPTIONS=abort_on_error=0:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  SLUICE_BIN=./build/asan/sluice ./build/asan/t/run

format:
	clang-format -i $(SRC_COMMON) $(SRC_WORKER) $(SRC_MASTER) $(SRC_TEST) $(wildcard */*.h t/*/*.h)

clean:
	rm -rf build $(BIN)

-include $(shell find build -name '*.d' 2>/dev/null)
