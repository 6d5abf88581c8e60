#!/bin/sh
# Runs each test binary given on the command line; prints a summary line and fails if any failed.
# $VALGRIND, when set, is the command each binary runs under (make valgrind).
passed=0; failed=0; failed_names=""
for t in "$@"; do
    echo "=== $t"
    if $VALGRIND "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names="$failed_names $t"; fi
done
echo "test binaries: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || { echo "failed:$failed_names"; exit 1; }
