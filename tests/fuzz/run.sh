#!/bin/sh
# tests/fuzz/run.sh [SECONDS] [TARGET...] - builds the libFuzzer harnesses of llm/ with clang
# (-fsanitize=fuzzer,address,undefined) and runs each for SECONDS (default 60), one by one.
# Run from the repository root. Targets: model (safetensors, config.json, index.json loaders),
# tokenizer (tokenizer.json loader and BPE) and reader (the line reader's folder); default all.
#
# Seeds: tests/fuzz/corpus/<target>/ (committed: small interesting inputs found so far) plus the
# fixture files of tests/fixtures, prefixed as the harness expects. New inputs go to
# $FUZZ_OUT/corpus-<target> (default /tmp/quire-fuzz), crashes to $FUZZ_OUT/crash-*; with
# FUZZ_MERGE=1 the new coverage is merged (minimized) back into tests/fuzz/corpus/<target>/.
# A crash ends the run with status 1 and its file named: reproduce with
#   $FUZZ_OUT/fuzz_<target> CRASH-FILE
set -eu
SECONDS_EACH=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-model tokenizer reader}
OUT=${FUZZ_OUT:-/tmp/quire-fuzz}
CC=${FUZZ_CC:-clang}
mkdir -p "$OUT"

FLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
       -fno-sanitize-recover=all -fno-omit-frame-pointer"
PKG_CFLAGS=$(pkg-config --cflags json-glib-1.0 openblas)
PKG_LIBS="$(pkg-config --libs json-glib-1.0 openblas) -lm -lpthread"
SRC="llm/*.c common/common.c"

seed_model() {
    d=$OUT/seeds-model
    rm -rf "$d"; mkdir -p "$d"
    fx=tests/fixtures/tiny-idefics3
    { printf '\000'; cat "$fx/model.safetensors"; } >"$d/whole-file"
    { printf '\001'; cat "$fx/model.safetensors"; } >"$d/model-weights"
    { printf '\002'; cat "$fx/config.json"; } >"$d/model-config"
    # a valid index for the two shards the harness writes (split as it splits)
    { printf '\003'; python3 - "$fx/model.safetensors" <<'PY'
import json, struct, sys
blob = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", blob[:8])
h = {k: v for k, v in json.loads(blob[8:8 + n]).items() if k != "__metadata__"}
names = sorted(h, key=lambda k: h[k]["data_offsets"][0])
half = len(names) // 2
wm = {k: "shard-1.safetensors" if i < half else "shard-2.safetensors" for i, k in enumerate(names)}
print(json.dumps({"metadata": {"total_size": len(blob) - 8 - n}, "weight_map": wm}))
PY
    } >"$d/model-index"
}

seed_tokenizer() {
    d=$OUT/seeds-tokenizer
    rm -rf "$d"; mkdir -p "$d"
    cp tests/fixtures/tiny-idefics3/tokenizer.json "$d/tiny-idefics3"
    cp tests/fixtures/bpe-1k/tokenizer.json "$d/bpe-1k"
}

seed_reader() {
    d=$OUT/seeds-reader
    rm -rf "$d"; mkdir -p "$d"
    fx=tests/fixtures/tiny-reader
    { printf '\000'; cat "$fx/config.json"; } >"$d/reader-config"
    { printf '\001'; cat "$fx/model.safetensors"; } >"$d/reader-weights"
}

status=0
for t in $TARGETS; do
    echo "== fuzz_$t: build"
    # shellcheck disable=SC2086
    $CC $FLAGS $PKG_CFLAGS -o "$OUT/fuzz_$t" "tests/fuzz/fuzz_$t.c" $SRC $PKG_LIBS
    "seed_$t"
    mkdir -p "$OUT/corpus-$t" "tests/fuzz/corpus/$t"
    echo "== fuzz_$t: $SECONDS_EACH s"
    if ! ASAN_OPTIONS=detect_leaks=1 "$OUT/fuzz_$t" -max_total_time="$SECONDS_EACH" \
        -max_len=${FUZZ_MAX_LEN:-500000} -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$OUT/crash-$t-" "$OUT/corpus-$t" "tests/fuzz/corpus/$t" \
        "$OUT/seeds-$t" 2>"$OUT/fuzz_$t.log"; then
        status=1
        tail -40 "$OUT/fuzz_$t.log"
        echo "fuzz_$t: CRASH, see $OUT/crash-$t-*"
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' "$OUT/fuzz_$t.log" || true
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
        "$OUT/fuzz_$t" -merge=1 -max_len=${FUZZ_MAX_LEN:-500000} "tests/fuzz/corpus/$t" \
            "$OUT/corpus-$t" 2>>"$OUT/fuzz_$t.log"
    fi
done
exit $status
