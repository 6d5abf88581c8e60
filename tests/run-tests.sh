#!/bin/sh
# Runs each test binary given on the command line and ends with one line counting the test
# cases of all of them ("tests: N passed, N failed, N skipped"); fails if any binary failed.
# $VALGRIND, when set, is the command each binary runs under (make valgrind).
passed=0; failed=0; skipped=0; bad=""
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in "$@"; do
    echo "=== $t"
    if $VALGRIND "$t" >"$out" 2>&1; then rc=0; else rc=$?; fi
    cat "$out"
    # cmocka's closing lines: "[  PASSED  ] N test(s).", "[  FAILED  ] N test(s), ...",
    # "[  SKIPPED ] N test(s), ..."
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
    if [ "$rc" -ne 0 ]; then
        bad="$bad $t"
        [ -n "$f" ] || failed=$((failed + 1)) # crashed before cmocka could count
    fi
done
[ -z "$bad" ] || echo "failed binaries:$bad"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ -z "$bad" ]
