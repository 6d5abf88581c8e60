#!/bin/sh
# bench/run.sh BUILD - quire's benchmarks. Prints figures as `name: value` lines at the end so
# they can be tracked over time. Figures, not pass/fail: compare runs made on the same machine.
#
#   batch_*    `quire batch` over a folder of generated PDFs (tools/gentables, every style),
#              run under /usr/bin/time -v for the peak RSS and the CPU use.
#   llm_*      the inference engine's benchmarks (bench/bench_llm), when built.
set -eu
BUILD=${1:-build}
QUIRE=$BUILD/quire
GEN=$BUILD/tools/gentables
COUNT=${QUIRE_BENCH_COUNT:-80}
work=$(mktemp -d /tmp/quire-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

"$GEN" --out "$work/pdfs" --count "$COUNT" --seed 7 --style all >/dev/null
pages=$(python3 -c "import json,sys; print(len([1 for l in open('$work/pdfs/truth.jsonl')]))")

cores=$(nproc)
echo "== quire batch over $COUNT generated PDFs ($pages pages), $cores cores"
if [ -x /usr/bin/time ]; then
    /usr/bin/time -v "$QUIRE" batch --quiet --db "$work/bench.db" "$work/pdfs" \
        >"$work/out.txt" 2>"$work/time.txt" || true
    cat "$work/out.txt"
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$work/time.txt")
    rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    cpu=$(awk -F': ' '/Percent of CPU this job got/ {sub("%","",$2); print $2}' "$work/time.txt")
else
    echo "(/usr/bin/time is missing: run make deps)"
    exit 1
fi
stored_pages=$(sqlite3 "$work/bench.db" "SELECT count(*) FROM pages")
tables=$(sqlite3 "$work/bench.db" "SELECT count(*) FROM tables")

LONG_PAGES=${QUIRE_BENCH_LONG_PAGES:-300}
echo "== quire convert on one $LONG_PAGES-page PDF with a table on every page"
"$BUILD/bench/make_long_pdf" "$work/long.pdf" "$LONG_PAGES"
/usr/bin/time -v "$QUIRE" convert --quiet --db "$work/long.db" --format json "$work/long.pdf" \
    >/dev/null 2>"$work/long-time.txt" || true
long_wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$work/long-time.txt")
long_rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/long-time.txt")
long_tables=$(sqlite3 "$work/long.db" "SELECT count(*) FROM tables")

if [ -x "$BUILD/bench/bench_llm" ]; then
    echo "== inference engine"
    "$BUILD/bench/bench_llm" | tee "$work/llm.txt"
fi

echo "== figures"
awk -v p="$stored_pages" -v t="$tables" -v w="$wall" -v r="$rss_kb" -v c="$cpu" -v n="$cores" 'BEGIN {
    printf "batch_pages: %d\nbatch_tables: %d\nbatch_seconds: %.2f\n", p, t, w
    printf "batch_pages_per_s: %.2f\nbatch_tables_per_s: %.2f\n", p / w, t / w
    printf "batch_cpu_busy_pct: %.0f\n", c / n
    printf "batch_peak_rss_mb: %.1f\n", r / 1024 }'
awk -v p="$LONG_PAGES" -v t="$long_tables" -v w="$long_wall" -v r="$long_rss_kb" 'BEGIN {
    printf "long_pdf_pages: %d\nlong_pdf_tables: %d\nlong_pdf_seconds: %.2f\n", p, t, w
    printf "long_pdf_pages_per_s: %.2f\nlong_pdf_peak_rss_mb: %.1f\n", p / w, r / 1024 }'
if [ -f "$work/llm.txt" ]; then
    grep -E '^[a-z0-9_]+: ' "$work/llm.txt" || true
fi
