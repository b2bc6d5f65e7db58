#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Every long option of camstream-ingest (its getopt table in ingest-server/main.c) is listed by
# --help, and is therefore also a documented config-file key. Usage: ingest_help_flags.sh MAIN_C BIN
set -u
main_c=$1
bin=$2
help=$("$bin" --help) || { echo "FAIL: --help exited non-zero"; exit 1; }
opts=$(grep -o '{"[a-z0-9-]*", *[a-z_]*_argument' "$main_c" | sed 's/{"\([^"]*\)".*/\1/')
[ -n "$opts" ] || { echo "FAIL: no options found in $main_c"; exit 1; }
fail=0
n=0
for o in $opts; do
    n=$((n + 1))
    if ! printf '%s\n' "$help" | grep -Eq -- "--$o([ =|,]|$)"; then
        echo "FAIL: --$o is not in --help"
        fail=1
    fi
done
echo "$n options checked"
exit $fail
