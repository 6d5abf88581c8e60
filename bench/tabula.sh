#!/bin/sh
# bench/tabula.sh BUILD [DIR] - quire's speed next to an established extractor's, tabula-java
# 0.9.0 (tools/fetch-tabula.sh), over one folder of PDFs: DIR, else a folder of generated ones
# (tools/gentables, QUIRE_BENCH_COUNT files, seed 7, every style: the folder bench/run.sh
# times batch_* on). Prints `name: value` lines; `make bench` runs it at its end (with its
# folder), `make bench-tabula` alone after installing java and fetching the jar.
#
# The machine may be busy, so the two run in turns in this one call: quire, tabula, quire,
# tabula, and the figures to quote are the ratios (quire_vs_tabula_speed*).
#   quire   `quire batch --engine text` over DIR into a fresh database (both cores: its workers).
#   tabula  one JVM per file (tabula has no batch mode), `-g -p all -f JSON`, run by
#           `xargs -P $(nproc)` so every core is busy too; each JVM under /usr/bin/time -v.
#           -g is tools/tabula_as_quire.py's default mode (see there); --add-opens lets its
#           JSON writer run on Java 9+ (it changes no result).
# Figures: *_pages_per_s over both turns; quire_vs_tabula_speed is their ratio (and
# *_round1/2 each turn's), quire_vs_tabula_cpu the ratio of CPU seconds (user + system), which a
# busy machine disturbs less than wall time; tabula_tables counts the tables it returned that hold
# some text (tabula_empty_tables the others); tabula_peak_rss_mb is the largest JVM's peak
# (tabula_mean_rss_mb their mean), tabula_s_per_file one JVM's mean wall time, and
# tabula_jvm_start_s what `java -jar tabula-java.jar --version` alone takes (mean of 5): the
# part of tabula_s_per_file that is only starting Java. tabula_failed_files counts JVMs that
# exited non-zero. Without java, the jar or /usr/bin/time it prints one `tabula: skipped (why)`
# line and exits 0.
set -eu
BUILD=${1:-build}
DIR=${2:-}
QUIRE=$BUILD/quire
JAR=${TABULA_JAR:-$BUILD/tabula/tabula-java.jar}
COUNT=${QUIRE_BENCH_COUNT:-80}

skip() { echo "tabula: skipped ($*)"; exit 0; }
command -v java >/dev/null 2>&1 || skip "java is missing: make bench-tabula installs it"
[ -f "$JAR" ] || skip "no $JAR: make bench-tabula fetches it"
[ -x /usr/bin/time ] || skip "/usr/bin/time is missing: run make deps"
java -jar "$JAR" --version >/dev/null 2>&1 || skip "java -jar $JAR --version failed"
export TABULA_BENCH_JAR=$JAR
TABULA_BENCH_JAVA_OPTS="--add-opens java.desktop/java.awt.color=ALL-UNNAMED"
export TABULA_BENCH_JAVA_OPTS="$TABULA_BENCH_JAVA_OPTS --add-opens java.desktop/java.awt=ALL-UNNAMED"

work=$(mktemp -d /tmp/quire-bench-tabula-XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ -z "$DIR" ]; then
    DIR=$work/pdfs
    "$BUILD/tools/gentables" --out "$DIR" --count "$COUNT" --seed 7 --style all >/dev/null
fi
cores=$(nproc)
files=$(find "$DIR" -name '*.pdf' | wc -l)
pages=$(find "$DIR" -name '*.pdf' -exec pdfinfo {} \; 2>/dev/null |
        awk '/^Pages:/ {s += $2} END {print s + 0}')

elapsed() { # FILE: /usr/bin/time -v's wall clock in seconds
    awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$1"
}

run_quire() { # ROUND
    /usr/bin/time -v -o "$work/quire-$1.time" "$QUIRE" batch --quiet --engine text \
        --db "$work/quire-$1.db" "$DIR" >/dev/null 2>"$work/quire-$1.err" || true
    elapsed "$work/quire-$1.time" >"$work/quire-$1.wall"
}

# One tabula run: one file, one JVM, under /usr/bin/time -v; OUT/NAME.{json,err,time,rc}.
cat >"$work/one.sh" <<'EOF_ONE'
out=$1; pdf=$2; name=$(basename "$pdf" .pdf); rc=0
/usr/bin/time -v -o "$out/$name.time" java $TABULA_BENCH_JAVA_OPTS -jar "$TABULA_BENCH_JAR" \
    -g -p all -f JSON "$pdf" >"$out/$name.json" 2>"$out/$name.err" || rc=$?
echo "$rc" >"$out/$name.rc"
EOF_ONE
run_tabula() { # ROUND
    mkdir -p "$work/tabula-$1"
    /usr/bin/time -f %e -o "$work/tabula-$1.wall" sh -c \
        'find "$1" -name "*.pdf" -print0 | sort -z | xargs -0 -P "$2" -n 1 sh "$3" "$4"' \
        sh "$DIR" "$cores" "$work/one.sh" "$work/tabula-$1"
}

echo "== quire batch and tabula-java (one JVM per file, $cores at a time) over $files PDFs" \
     "($pages pages), in turns"
for round in 1 2; do
    run_quire "$round"
    run_tabula "$round"
    echo "round $round: quire $(cat "$work/quire-$round.wall") s," \
         "tabula $(cat "$work/tabula-$round.wall") s"
done
for i in 1 2 3 4 5; do
    /usr/bin/time -v -o "$work/start-$i.time" java -jar "$JAR" --version >/dev/null 2>&1 || true
done

quire_tables=$(sqlite3 "$work/quire-1.db" "SELECT count(*) FROM tables")

python3 - "$work" "$pages" "$cores" "$quire_tables" <<'EOF'
import glob, json, os, re, sys
work, pages, cores, quire_tables = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def time_v(path):
    """wall s, cpu s, peak rss KB of one /usr/bin/time -v output."""
    text = open(path).read()
    wall = 0.0
    m = re.search(r"Elapsed \(wall clock\).*: (\S+)", text)
    for part in m.group(1).split(":"):
        wall = wall * 60 + float(part)
    cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): (\S+)", text))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return wall, cpu, rss

def wall(path):
    return float(open(path).read().split()[-1])

fig = {}
q_walls = [wall(os.path.join(work, "quire-%d.wall" % r)) for r in (1, 2)]
t_walls = [wall(os.path.join(work, "tabula-%d.wall" % r)) for r in (1, 2)]
q_runs = [time_v(os.path.join(work, "quire-%d.time" % r)) for r in (1, 2)]
q_rss = max(q[2] for q in q_runs)
q_cpu = sum(q[1] for q in q_runs)
jvms, tables, empty, failed = [], 0, 0, 0
for r in (1, 2):
    for t in glob.glob(os.path.join(work, "tabula-%d" % r, "*.time")):
        jvms.append(time_v(t))
    for j in glob.glob(os.path.join(work, "tabula-%d" % r, "*.json")):
        rc = int(open(j[:-5] + ".rc").read() or 1)
        failed += (rc != 0) if r == 1 else 0
        if r != 1:
            continue
        try:
            found = json.load(open(j, encoding="utf-8", errors="replace"))
        except ValueError:
            found = []
        for t in found if isinstance(found, list) else []:
            text = any((c.get("text") or "").strip() for row in t.get("data") or []
                       for c in row if isinstance(c, dict))
            tables += text
            empty += not text
starts = [time_v(p) for p in sorted(glob.glob(os.path.join(work, "start-*.time")))]
q_pps = 2 * pages / sum(q_walls)
t_pps = 2 * pages / sum(t_walls)
t_cpu = sum(j[1] for j in jvms)
lines = [
    ("tabula_files", "%d" % (len(jvms) // 2)),
    ("tabula_pages", "%d" % pages),
    ("tabula_tables", "%d" % tables),
    ("tabula_empty_tables", "%d" % empty),
    ("tabula_failed_files", "%d" % failed),
    ("tabula_seconds", "%.2f" % (sum(t_walls) / 2)),
    ("tabula_pages_per_s", "%.2f" % t_pps),
    ("tabula_tables_per_s", "%.2f" % (2 * tables / sum(t_walls))),
    ("tabula_cpu_busy_pct", "%.0f" % (100 * t_cpu / (sum(t_walls) * cores))),
    ("tabula_s_per_file", "%.2f" % (sum(j[0] for j in jvms) / len(jvms))),
    ("tabula_cpu_s_per_file", "%.2f" % (t_cpu / len(jvms))),
    ("tabula_jvm_start_s", "%.2f" % (sum(s[0] for s in starts) / len(starts))),
    ("tabula_jvm_start_cpu_s", "%.2f" % (sum(s[1] for s in starts) / len(starts))),
    ("tabula_peak_rss_mb", "%.1f" % (max(j[2] for j in jvms) / 1024)),
    ("tabula_mean_rss_mb", "%.1f" % (sum(j[2] for j in jvms) / len(jvms) / 1024)),
    ("quire_tables", quire_tables),
    ("quire_seconds", "%.2f" % (sum(q_walls) / 2)),
    ("quire_pages_per_s", "%.2f" % q_pps),
    ("quire_cpu_busy_pct", "%.0f" % (100 * q_cpu / (sum(q_walls) * cores))),
    ("quire_peak_rss_mb", "%.1f" % (q_rss / 1024)),
    ("tabula_cpu_ms_per_page", "%.0f" % (1000 * t_cpu / (2 * pages))),
    ("quire_cpu_ms_per_page", "%.1f" % (1000 * q_cpu / (2 * pages))),
    ("quire_vs_tabula_speed", "%.1f" % (q_pps / t_pps)),
    ("quire_vs_tabula_speed_round1", "%.1f" % (t_walls[0] / q_walls[0])),
    ("quire_vs_tabula_speed_round2", "%.1f" % (t_walls[1] / q_walls[1])),
    ("quire_vs_tabula_cpu", "%.1f" % (t_cpu / q_cpu)),
]
for name, value in lines:
    print("%s: %s" % (name, value))
EOF
