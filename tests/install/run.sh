#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# usage: run.sh BUILD_DIR EXAMPLE_SRC WORK_DIR C_COMPILER [EXTRA_FLAGS]
# EXTRA_FLAGS go to both compile and link of the example (a sanitizer build's libraries need the
# sanitizer runtime in the program that links them).
# Installs BUILD_DIR into WORK_DIR/prefix, then builds and runs EXAMPLE_SRC against it with CMake
# (find_package) and with pkg-config. Fails on the first step that fails.
set -eu
build=$1 src=$2 work=$3 cc=$4 extra=${5:-}
rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"

echo "== install into $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
test -f "$prefix/include/camstream/platform.h"
ls "$prefix"/lib*/pkgconfig/camstream.pc >/dev/null
ls "$prefix"/lib*/cmake/camstream/camstreamConfig.cmake >/dev/null
# The GStreamer elements (when this build has them) go to <libdir>/gstreamer-1.0, where
# GStreamer finds them with GST_PLUGIN_PATH (or by default under /usr).
for plugin in camstreamsink camstreamsrc; do
    if find "$build" -maxdepth 3 -name "libgst$plugin.so" | grep -q .; then
        ls "$prefix"/lib*/gstreamer-1.0/libgst$plugin.so >/dev/null
        if [ -z "$extra" ] && command -v gst-inspect-1.0 >/dev/null; then
            GST_PLUGIN_PATH=$(echo "$prefix"/lib*/gstreamer-1.0) \
                GST_REGISTRY="$work/gst-registry.bin" gst-inspect-1.0 $plugin >/dev/null
        fi
        echo "installed: $plugin"
    fi
done

echo "== find_package(camstream)"
cmake -S "$src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" >"$work/configure.log"
cmake --build "$work/cmake-build" >"$work/build.log"
"$work/cmake-build/camstream_example"

echo "== pkg-config camstream"
PKG_CONFIG_PATH=$(echo "$prefix"/lib*/pkgconfig)
export PKG_CONFIG_PATH
flags=$(pkg-config --cflags --libs camstream)
echo "pkg-config: $flags"
# The modules the package lists decide what the example calls, as with find_package.
defs=""
case "$flags" in *-lcamstream_auth*) defs="-DHAVE_CS_AUTH=1" ;; esac
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Werror $extra $defs -o "$work/example-pc" "$src/main.c" $flags
"$work/example-pc"
echo "== ok"
