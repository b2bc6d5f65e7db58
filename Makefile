# SPDX-License-Identifier: Apache-2.0
# The README's two commands, and the small ones around them. Builds go to build/, never the tree.
#
#   make          build (host, into build/host)
#   make test     install what is missing, build, run every test, print a one-line summary
#   make run      install what is missing, build, start the demo (server + producer)
#   make bench    build and run the benchmarks under tests/bench
#   make format   clang-format every C file in place
#   make clean    remove build/

BUILD ?= build/host
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build configure setup test run bench format clean help

all: build

help:
	@sed -n '2,10p' Makefile | sed 's/^# \{0,1\}//'

setup:
	@scripts/setup

$(BUILD)/build.ninja:
	@command -v cmake >/dev/null && command -v ninja >/dev/null || \
	  { echo "make: cmake and ninja are missing; run 'make test' or 'scripts/setup' as root to install them" >&2; exit 1; }
	cmake -S . -B $(BUILD) -G Ninja -DCS_WERROR=ON $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: setup
	@$(MAKE) --no-print-directory build
	@scripts/run-tests $(BUILD)

run: setup
	@$(MAKE) --no-print-directory build
	@scripts/run-demo $(BUILD)

bench: build
	@scripts/run-bench $(BUILD)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build
