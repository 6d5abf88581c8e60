#!/bin/sh
# bench/run.sh BUILD - quire's benchmarks. Prints figures as `name: value` lines at the end so
# they can be tracked over time. Figures, not pass/fail: compare runs made on the same machine.
#
#   batch_*    `quire batch` over a folder of generated PDFs (tools/gentables, every style),
#              run under /usr/bin/time -v for the peak RSS and the CPU use.
#   vlm_batch_*, auto_batch_*
#              `quire batch --engine vlm` (and auto) with a random model of the shipped size over
#              generated PDFs and their scans (see below), when bench/bench_llm is built;
#              QUIRE_BENCH_VLM_ENGINES="vlm" skips auto, "" both.
#   vlm_long_pdf_*  the same for one QUIRE_BENCH_VLM_LONG_PAGES-page PDF (default 4; 0 skips).
#   ocr_batch_*  `quire batch` over scanned copies (tools/scanify) of the first
#              QUIRE_BENCH_OCR_COUNT (default 20) batch PDFs, read by the shipped line reader
#              (models/quire-reader; skipped when it is not there).
#   llm_*      the inference engine's benchmarks (bench/bench_llm), when built.
#   tabula_*, quire_*, quire_vs_tabula_*
#              quire batch and tabula-java in turns over the batch_* folder (bench/tabula.sh),
#              when java and the jar are there; else one `tabula: skipped (why)` line.
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

# The model engine: a random model of the shipped one's size (bench_llm --write-model) over a
# folder of mixed PDFs: VLM_COUNT generated born-digital ones and their scanned copies
# (tools/scanify). Random weights read nothing (the tables are noise, and the model id says
# bench-random-12m), but the work per table is the real model's: encode the crop's tiles,
# prefill, decode under the OTSL constraint. A random model rarely closes a table, so it decodes
# until the state is full (2048 positions less the prompt): vlm_tokens_per_table says how many
# tokens each table cost, to scale by (the trained model writes ~400 for a 10 x 6 table).
# threads_busy.py samples the threads: see there for how to read *_runnable_*.
VLM_COUNT=${QUIRE_BENCH_VLM_COUNT:-4}
VLM_ENGINES=${QUIRE_BENCH_VLM_ENGINES:-vlm auto}
run_model_batch() { # ENGINE PREFIX DIR: quire batch over DIR, figures into $work/PREFIX.txt
    rm -f "$work/$2.db"
    /usr/bin/time -v -o "$work/$2-time.txt" "$QUIRE" batch --verbose --db "$work/$2.db" \
        --engine "$1" --model "$work/model" "$3" >"$work/$2-out.txt" 2>"$work/$2-log.txt" &
    tpid=$!
    sleep 0.2
    qpid=$(pgrep -P "$tpid" || true)
    if [ -n "$qpid" ]; then
        PREFIX="${2}_" python3 bench/threads_busy.py "$qpid" >"$work/$2-threads.txt"
    fi
    wait "$tpid" || true
    cat "$work/$2-out.txt"
    w=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$work/$2-time.txt")
    r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$2-time.txt")
    c=$(awk -F': ' '/Percent of CPU this job got/ {sub("%","",$2); print $2}' "$work/$2-time.txt")
    cs=$(awk -F': ' '/(User|System) time \(seconds\)/ {s+=$2} END {print s}' "$work/$2-time.txt")
    p=$(sqlite3 "$work/$2.db" "SELECT count(*) FROM pages")
    t=$(sqlite3 "$work/$2.db" "SELECT count(*) FROM tables")
    tok=$(awk '/model bench-random-12m: .* tokens, confidence/ {
                   for (i = 2; i <= NF; i++) if ($i ~ /^tokens,/) { s += $(i-1); n++ } }
               END { if (n) printf "%.0f", s / n; else print 0 }' "$work/$2-log.txt")
    awk -v pre="$2" -v p="$p" -v t="$t" -v w="$w" -v r="$r" -v c="$c" -v cs="$cs" -v n="$cores" \
        -v tok="$tok" 'BEGIN {
        printf "%s_pages: %d\n%s_tables: %d\n%s_seconds: %.2f\n", pre, p, pre, t, pre, w
        printf "%s_pages_per_s: %.3f\n%s_tables_per_s: %.3f\n", pre, p / w, pre, t / w
        printf "%s_cpu_busy_pct: %.0f\n", pre, c / n
        printf "%s_cpu_s_per_table: %.2f\n", pre, t ? cs / t : 0
        printf "%s_peak_rss_mb: %.1f\n", pre, r / 1024
        sub(/_batch$/, "", pre)
        printf "%s_tokens_per_table: %d\n", pre, tok }' >"$work/$2.txt"
    if [ -f "$work/$2-threads.txt" ]; then cat "$work/$2-threads.txt" >>"$work/$2.txt"; fi
}
if [ -x "$BUILD/bench/bench_llm" ] && [ -n "$VLM_ENGINES" ]; then
    "$BUILD/bench/bench_llm" --write-model "$work/model" >/dev/null
    "$GEN" --out "$work/vlm-gen" --count "$VLM_COUNT" --seed 21 --style all >/dev/null
    "$BUILD/tools/scanify" "$work/vlm-gen" "$work/vlm-scan" >/dev/null
    mkdir -p "$work/mix"
    for f in "$work"/vlm-gen/*.pdf; do cp "$f" "$work/mix/born-${f##*/}"; done
    for f in "$work"/vlm-scan/*.pdf; do cp "$f" "$work/mix/scan-${f##*/}"; done
    for engine in $VLM_ENGINES; do
        pre=vlm_batch
        [ "$engine" = vlm ] || pre=${engine}_batch
        echo "== quire batch --engine $engine over $VLM_COUNT born-digital PDFs + their scans" \
             "(random 12M model: figures for speed only; [model] threads = 1, one worker per core)"
        run_model_batch "$engine" "$pre" "$work/mix"
    done
    # One document: its worker lends idle cores to page helpers (workers/workers.h, "Lanes"),
    # so this shows what one big scan gets of the cores.
    VLM_LONG_PAGES=${QUIRE_BENCH_VLM_LONG_PAGES:-4}
    if [ "$VLM_LONG_PAGES" -gt 0 ]; then
        mkdir -p "$work/vlm-long"
        "$BUILD/bench/make_long_pdf" "$work/vlm-long/long.pdf" "$VLM_LONG_PAGES"
        echo "== quire batch --engine vlm on one $VLM_LONG_PAGES-page PDF with a table on every page"
        run_model_batch vlm vlm_long_pdf "$work/vlm-long"
    fi
fi

# Scanned pages read by the line reader (ocr/): scanned copies of the first OCR_COUNT PDFs.
OCR_COUNT=${QUIRE_BENCH_OCR_COUNT:-20}
if [ -f models/quire-reader/config.json ] && [ "$OCR_COUNT" -gt 0 ]; then
    echo "== quire batch over $OCR_COUNT scanned PDFs, read by models/quire-reader"
    mkdir -p "$work/ocr-born"
    head -n 1000 "$work/pdfs/truth.jsonl" | python3 -c "
import json, sys, shutil
keep = sorted({json.loads(l)['pdf'] for l in sys.stdin})[:$OCR_COUNT]
out = open('$work/ocr-born/truth.jsonl', 'w')
for l in open('$work/pdfs/truth.jsonl'):
    if json.loads(l)['pdf'] in keep:
        out.write(l)
for f in keep:
    shutil.copy('$work/pdfs/' + f, '$work/ocr-born/' + f)"
    "$BUILD/tools/scanify" "$work/ocr-born" "$work/ocr-scan" >/dev/null
    /usr/bin/time -v -o "$work/ocr-time.txt" "$QUIRE" batch --quiet --db "$work/ocr.db" \
        --reader models/quire-reader "$work/ocr-scan" >/dev/null 2>&1 || true
    awk -F': ' -v p="$(sqlite3 "$work/ocr.db" "SELECT count(*) FROM pages")" \
        -v t="$(sqlite3 "$work/ocr.db" "SELECT count(*) FROM tables WHERE engine = 'ocr'")" -v n="$cores" '
        /Elapsed \(wall clock\)/ {k=split($2,a,":"); w=0; for(i=1;i<=k;i++) w=w*60+a[i]}
        /Maximum resident set size/ {r=$2}
        /Percent of CPU this job got/ {sub("%","",$2); c=$2}
        END {printf "ocr_batch_pages: %d\nocr_batch_tables: %d\nocr_batch_seconds: %.2f\n", p, t, w
             printf "ocr_batch_pages_per_s: %.2f\nocr_batch_tables_per_s: %.2f\n", p / w, t / w
             printf "ocr_batch_cpu_busy_pct: %.0f\nocr_batch_peak_rss_mb: %.1f\n", c / n, r / 1024}' \
        "$work/ocr-time.txt" > "$work/ocr.txt"
    cat "$work/ocr.txt"
fi

# quire against tabula-java over the same folder, in turns (bench/tabula.sh); one
# `tabula: skipped (why)` line when java or the jar is not here (make bench-tabula fetches it).
echo "== quire and tabula-java"
sh bench/tabula.sh "$BUILD" "$work/pdfs" | tee "$work/tabula.txt"

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
for f in "$work/ocr.txt" "$work/vlm_batch.txt" "$work/auto_batch.txt" "$work/vlm_long_pdf.txt"; do
    if [ -f "$f" ]; then cat "$f"; fi
done
if [ -f "$work/llm.txt" ]; then
    grep -E '^[a-z0-9_]+: ' "$work/llm.txt" || true
fi
grep -E '^[a-z0-9_]+: ' "$work/tabula.txt" || true
