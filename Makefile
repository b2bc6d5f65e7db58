# SPDX-License-Identifier: Apache-2.0
# The README's two commands, and the small ones around them. Builds go to build/, never the tree.
#
#   make          build (host, into build/host)
#   make test     install what is missing, build, run every test, print a one-line summary
#   make run      install what is missing, build, start the demo (server + producer)
#   make install  build, install into PREFIX (default /usr/local), the GStreamer elements into
#                 GStreamer's plugin directory (GST_PLUGIN_DIR; DESTDIR for staging)
#   make bench    build, run the benchmarks under tests/bench, write docs/benchmarks.md
#   make bench-quick  the same with every bench small (minutes); report in $(BUILD)/bench-quick
#   make format   clang-format every C file in place
#   make clean    remove build/

BUILD ?= build/host
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

PREFIX ?= /usr/local
GST_PLUGIN_DIR ?= $(shell pkg-config --variable=pluginsdir gstreamer-1.0 2>/dev/null)

.PHONY: all build configure setup test run bench bench-quick format clean help install

all: build

help:
	@sed -n '2,13p' Makefile | sed 's/^# \{0,1\}//'

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

# The elements also go where GStreamer looks without GST_PLUGIN_PATH (its pluginsdir).
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)
	@for p in $(BUILD)/producer/gst/libgstcamstreamsink.so $(BUILD)/consumer/gst/libgstcamstreamsrc.so; do \
	  if [ -f "$$p" ] && [ -n "$(GST_PLUGIN_DIR)" ]; then \
	    echo "-- Installing: $(DESTDIR)$(GST_PLUGIN_DIR)/$${p##*/}"; \
	    install -D -m 644 "$$p" "$(DESTDIR)$(GST_PLUGIN_DIR)/$${p##*/}" || exit 1; \
	  fi; \
	done

bench: build
	@scripts/run-bench $(BUILD)

bench-quick: build
	@scripts/run-bench --quick $(BUILD)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build
