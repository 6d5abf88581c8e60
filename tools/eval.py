#!/usr/bin/env python3
"""Score quire's table extraction against pages whose tables are known (stdlib only).

usage: tools/eval.py --quire build/quire [--set DIR_OR_CASES.jsonl ...] [--per-case]
                     [--by-style] [--per-table] [--jobs N] [--timeout S] [--json OUT]
                     [--engine text|vlm|auto] [--model DIR] [--reader DIR|none]
                     [--gentables PATH] [--gen-count N] [--gen-seed S] [--self-test]

Sets. A set is a cases file in the eval-dev format (one page per line: {"id", "pdf" (relative
to the file's folder), "page" (1-based), "tables": [[[cell, ...], ...], ...], "password"?,
"area"?, "style"?, "note"}) or a folder holding truth.jsonl (what tools/gentables writes) or
cases.jsonl. Without --set: ../shared/eval-dev/cases.jsonl (next to the repository) when it
exists, plus a set generated into a temporary folder with build/tools/gentables (--gen-count
files, seed --gen-seed, every style).

For every case it runs
    quire convert --format json --pages P --db TMP [--password PW] [--engine E --model M] FILE
and reads the JSON Lines it prints (one object per document: {"path", "sha256", "pages",
"tables": [{"id", "page", "bbox", "rows", "spans", "header_rows", ...}], "error"}), keeping the
tables on page P (and, when the case gives an "area", those whose bbox meets it, if any do).

Scores, per expected table, after matching expected and predicted tables of one page one to one
(greedy, best word overlap first):
  found     the matched prediction holds >= 50% of the expected table's words (multiset
            overlap of whitespace-separated tokens, or of whole cells compared loosely)
  shape     same rows x cols once rows and columns that are empty on each side are dropped
  cell_acc  share of the expected non-empty cells equal (whitespace-normalised) to the predicted
            cell at (row + dr, col + dc), for the single best offset (dr, dc)
  teds      tree-edit similarity of the table -> rows -> cells trees: 1 - d / max(nodes), where
            rows are aligned by dynamic programming, inserting or deleting a row costs its cells
            + 1, a cell 1, and a cell substitution 0 when equal, 0.1 when equal once whitespace
            and case are ignored (NFKC), else 1
Unmatched expected tables score 0 everywhere. Figures are means over expected tables.
False positives: tables predicted on pages whose truth has none ("fp_pages" counts such pages
with at least one table; "extra" counts predicted tables left unmatched on pages that do have
tables). A case whose run fails (quire error, crash, timeout, bad JSON) scores 0 and is listed.
"""
import argparse
import collections
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata

MAX_ROWS, MAX_COLS, MAX_TABLES = 1000, 200, 100
WS = re.compile(r"\s+")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- text ---------------------------------------------------------------------------------

def norm(s):
    """Whitespace-normalised text of a cell (None and non-strings tolerated)."""
    if s is None:
        return ""
    if not isinstance(s, str):
        s = str(s)
    return WS.sub(" ", s.replace("\u00a0", " ")).strip()


def loose(s):
    return WS.sub("", unicodedata.normalize("NFKC", s)).casefold()


def clean_table(t):
    """A rectangular list of rows of normalised strings, or None when t is not a table."""
    if isinstance(t, dict):
        t = t.get("rows")
    if not isinstance(t, list):
        return None
    rows = []
    for row in t[:MAX_ROWS]:
        if not isinstance(row, list):
            row = [row]
        rows.append([norm(c) for c in row[:MAX_COLS]])
    width = max((len(r) for r in rows), default=0)
    return [r + [""] * (width - len(r)) for r in rows]


def drop_empty(t):
    """t without all-empty rows and all-empty columns."""
    rows = [r for r in t if any(r)]
    if not rows:
        return []
    keep = [c for c in range(len(rows[0])) if any(r[c] for r in rows)]
    return [[r[c] for c in keep] for r in rows]


def words(t):
    return collections.Counter(w for row in t for cell in row for w in cell.split())


# --- metrics ------------------------------------------------------------------------------

def _multiset_share(want, have):
    total = sum(want.values())
    if total == 0:
        return 1.0 if not have else 0.0
    return sum(min(n, have[w]) for w, n in want.items()) / total


def word_overlap(expected, predicted):
    """Share of the expected table's words (as a multiset) that the prediction holds; or, when
    higher, the share of its non-empty cells found as whole cells compared loosely (which
    forgives words glued or split differently inside a cell)."""
    by_words = _multiset_share(words(expected), words(predicted))
    cells = lambda t: collections.Counter(loose(c) for row in t for c in row if c)
    return max(by_words, _multiset_share(cells(expected), cells(predicted)))


def shape_match(expected, predicted):
    e, p = drop_empty(expected), drop_empty(predicted)
    return len(e) == len(p) and (not e or len(e[0]) == len(p[0]))


def cell_accuracy(expected, predicted):
    """Best single (dr, dc) offset: each equal cell votes for the offset that aligns it."""
    where = collections.defaultdict(list)
    for r, row in enumerate(predicted):
        for c, cell in enumerate(row):
            if cell:
                where[cell].append((r, c))
    votes = collections.Counter()
    total = 0
    for r, row in enumerate(expected):
        for c, cell in enumerate(row):
            if not cell:
                continue
            total += 1
            for pr, pc in where.get(cell, ()):
                votes[(pr - r, pc - c)] += 1
    if total == 0:
        return 1.0
    return max(votes.values(), default=0) / total


def _cell_cost(a, b):
    if a == b:
        return 0.0
    return 0.1 if loose(a) == loose(b) else 1.0


def _row_distance(a, b):
    """Edit distance between two rows of cells (insert/delete 1, substitute _cell_cost)."""
    prev = [float(j) for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        cur = [float(i)] + [0.0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + _cell_cost(a[i - 1], b[j - 1]))
        prev = cur
    return prev[-1]


def teds(expected, predicted):
    """1 - d / max(nodes) for the trees table -> rows -> cells (see the module docstring)."""
    if not expected or not predicted:
        return float(not expected and not predicted)
    n_e = 1 + sum(1 + len(r) for r in expected)
    n_p = 1 + sum(1 + len(r) for r in predicted)
    prev = [0.0]
    for row in predicted:
        prev.append(prev[-1] + 1 + len(row))
    for i, erow in enumerate(expected, 1):
        cur = [prev[0] + 1 + len(erow)]
        for j, prow in enumerate(predicted, 1):
            cur.append(min(prev[j] + 1 + len(erow),
                           cur[j - 1] + 1 + len(prow),
                           prev[j - 1] + _row_distance(erow, prow)))
        prev = cur
    return max(0.0, 1.0 - prev[-1] / max(n_e, n_p))


def score_page(expected_tables, predicted_tables):
    """Matches expected to predicted tables one to one; returns (per-expected scores, extra)."""
    pairs = []
    for i, e in enumerate(expected_tables):
        for j, p in enumerate(predicted_tables):
            pairs.append((word_overlap(e, p), i, j))
    pairs.sort(key=lambda x: (-x[0], x[1], x[2]))
    match, used = {}, set()
    for overlap, i, j in pairs:
        if i in match or j in used or overlap <= 0:
            continue
        match[i] = (j, overlap)
        used.add(j)
    scores = []
    for i, e in enumerate(expected_tables):
        s = {"found": 0.0, "shape": 0.0, "cell_acc": 0.0, "teds": 0.0,
             "expected": "%dx%d" % (len(e), len(e[0]) if e else 0), "predicted": "-"}
        if i in match:
            j, overlap = match[i]
            p = predicted_tables[j]
            s.update(found=float(overlap >= 0.5), shape=float(shape_match(e, p)),
                     cell_acc=cell_accuracy(e, p), teds=teds(e, p),
                     predicted="%dx%d" % (len(p), len(p[0]) if p else 0))
        scores.append(s)
    return scores, len(predicted_tables) - len(used)


# --- running quire ------------------------------------------------------------------------

def load_cases(path):
    """Cases of one set: a cases file, or a folder with truth.jsonl or cases.jsonl."""
    if os.path.isdir(path):
        for name in ("truth.jsonl", "cases.jsonl"):
            if os.path.exists(os.path.join(path, name)):
                path = os.path.join(path, name)
                break
        else:
            raise SystemExit("eval: %s holds neither truth.jsonl nor cases.jsonl" % path)
    base = os.path.dirname(os.path.abspath(path))
    cases = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                c = json.loads(line)
                c["pdf_path"] = os.path.join(base, c["pdf"])
                c["page"] = int(c.get("page", 1))
                c["tables"] = [clean_table(t) or [] for t in c.get("tables", [])]
            except (ValueError, KeyError, TypeError) as err:
                raise SystemExit("eval: %s:%d: bad case: %s" % (path, n, err))
            cases.append(c)
    return cases


def overlaps(bbox, area):
    """bbox [x0, y0, x1, y1] meets area [top, left, bottom, right] (both top-left origin)."""
    try:
        x0, y0, x1, y1 = (float(v) for v in bbox)
        top, left, bottom, right = (float(v) for v in area)
    except (TypeError, ValueError):
        return False
    return min(x1, right) > max(x0, left) and min(y1, bottom) > max(y0, top)


def run_case(quire, case, timeout, extra=()):
    """Runs quire on one case (with the extra arguments); returns (tables on the page, error
    message or None)."""
    tmp = tempfile.mkdtemp(prefix="quire-eval-")
    cmd = [quire, "convert", "--format", "json", "--pages", str(case["page"]),
           "--db", os.path.join(tmp, "eval.db")]
    if case.get("password"):
        cmd += ["--password", case["password"]]
    cmd += list(extra)
    cmd.append(case["pdf_path"])
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [], "timed out after %ss" % timeout
    except OSError as err:
        return [], "cannot run %s: %s" % (quire, err)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tables, errors = [], []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            errors.append("bad JSON line: %.60s" % line)
            continue
        if not isinstance(doc, dict):
            errors.append("JSON line is not an object")
            continue
        if doc.get("error"):
            errors.append(str(doc["error"]))
        for t in (doc.get("tables") or [])[:MAX_TABLES]:
            if not isinstance(t, dict) or t.get("page", case["page"]) != case["page"]:
                continue
            rows = clean_table(t)
            if rows is not None:
                tables.append((rows, t.get("bbox")))
    if case.get("area"):
        inside = [t for t in tables if overlaps(t[1], case["area"])]
        if inside:
            tables = inside
    if proc.returncode not in (0, 1) and not errors:
        errors.append("exit status %d: %s" % (proc.returncode,
                                              proc.stderr.decode("utf-8", "replace")[-200:]))
    return [t[0] for t in tables], "; ".join(errors) or None


# --- reporting ----------------------------------------------------------------------------

METRICS = ("found", "shape", "cell_acc", "teds")


def summarize(results):
    """Totals over a list of per-case results."""
    tables = [s for r in results for s in r["scores"]]
    out = {"cases": len(results), "tables": len(tables)}
    for m in METRICS:
        out[m] = sum(s[m] for s in tables) / len(tables) if tables else 0.0
    empty = [r for r in results if not r["expected"]]
    out["notable_pages"] = len(empty)
    out["fp_pages"] = sum(1 for r in empty if r["n_predicted"])
    out["fp_tables"] = sum(r["n_predicted"] for r in empty)
    out["extra"] = sum(r["extra"] for r in results if r["expected"])
    out["errors"] = sum(1 for r in results if r["error"])
    return out


def fmt_summary(label, s):
    if s["tables"]:
        figures = "found %5.1f%% shape %5.1f%% cell_acc %5.1f%% teds %5.1f%%" % (
            100 * s["found"], 100 * s["shape"], 100 * s["cell_acc"], 100 * s["teds"])
    else:
        figures = "%-59s" % "(no tables expected)"
    return ("%-22s cases %4d tables %4d | %s | fp_pages %d/%d extra %d errors %d"
            % (label[:22], s["cases"], s["tables"], figures, s["fp_pages"], s["notable_pages"],
               s["extra"], s["errors"]))


def evaluate(quire, cases, jobs, timeout, quire_args=()):
    def one(case):
        predicted, error = run_case(quire, case, timeout, quire_args)
        scores, extra = score_page(case["tables"], predicted)
        return {"id": case["id"], "style": case.get("style") or case.get("source") or "",
                "expected": case["tables"], "n_predicted": len(predicted), "scores": scores,
                "extra": extra, "error": error}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, cases))


def report(name, results, args):
    print("== %s" % name)
    if args.per_case or args.per_table:
        for r in results:
            s = summarize([r])
            line = "  %-40s %-10s tables %d pred %d" % (r["id"][:40], r["style"][:10],
                                                       len(r["expected"]), r["n_predicted"])
            if r["expected"]:
                line += "  found %.0f%% shape %.0f%% cell %.0f%% teds %.0f%%" % (
                    100 * s["found"], 100 * s["shape"], 100 * s["cell_acc"], 100 * s["teds"])
            elif r["n_predicted"]:
                line += "  FALSE POSITIVE"
            if r["error"]:
                line += "  ERROR: %s" % r["error"][:120]
            print(line)
            if args.per_table:
                for k, t in enumerate(r["scores"]):
                    print("      table %d: expected %s predicted %s found %d shape %d "
                          "cell_acc %.2f teds %.2f" % (k + 1, t["expected"], t["predicted"],
                                                       t["found"], t["shape"], t["cell_acc"],
                                                       t["teds"]))
    if args.by_style:
        groups = collections.defaultdict(list)
        for r in results:
            groups[r["style"]].append(r)
        for style in sorted(groups):
            print("  " + fmt_summary(style or "(none)", summarize(groups[style])))
    total = summarize(results)
    print(fmt_summary("TOTAL " + name, total))
    failed = [r for r in results if r["error"]]
    for r in failed[:10]:
        print("  failed: %s: %s" % (r["id"], r["error"][:200]))
    if len(failed) > 10:
        print("  ... and %d more failures" % (len(failed) - 10))
    return total


def engine_args(engine, model, reader=None):
    """quire convert's arguments for an engine, a model folder and a line reader folder (any
    may be None)."""
    return ((["--engine", engine] if engine else []) + (["--model", model] if model else []) +
            (["--reader", reader] if reader else []))


def generate_set(gentables, folder, count, seed):
    if not os.access(gentables, os.X_OK):
        print("eval: %s not built (make all); skipping the generated set" % gentables,
              file=sys.stderr)
        return None
    subprocess.run([gentables, "--out", folder, "--count", str(count), "--seed", str(seed),
                    "--style", "all"], check=True)
    return folder


# --- self-test of the scorer --------------------------------------------------------------

def self_test():
    t = [["Name", "Qty"], ["Zürich", "1,200"], ["Oslo", "(35)"]]
    assert teds(t, t) == 1.0 and cell_accuracy(t, t) == 1.0 and shape_match(t, t)
    assert word_overlap(t, t) == 1.0 and word_overlap(t, [[""]]) == 0.0
    shifted = [["", "", ""]] + [[""] + r for r in t]  # an empty row and column in front
    assert cell_accuracy(t, shifted) == 1.0 and shape_match(t, shifted)
    merged = [["Name Qty"], ["Zürich 1,200"], ["Oslo (35)"]]  # columns run together
    assert word_overlap(t, merged) == 1.0 and not shape_match(t, merged)
    assert cell_accuracy(t, merged) == 0.0 and 0 < teds(t, merged) < 0.7
    spaced = [["name", "qty"], ["Zürich", "1, 200"], ["Oslo", "(35)"]]
    assert abs(teds(t, spaced) - (1 - 0.3 / 10)) < 1e-9
    assert teds(t, []) == 0.0
    two = [[["a b", "c"]], [["x", "y"], ["z", "w"]]]
    scores, extra = score_page(two, [[["x", "y"], ["z", "w"]], [["q"]]])
    assert scores[0]["found"] == 0 and scores[1]["found"] == 1 and extra == 1
    assert clean_table({"rows": [["a", None], [3]]}) == [["a", ""], ["3", ""]]
    assert clean_table("junk") is None
    assert overlaps([10, 10, 50, 50], [0, 0, 20, 20]) and not overlaps([10, 10, 50, 50],
                                                                       [60, 0, 90, 90])
    print("eval: self-test passed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quire", default=os.path.join(REPO, "build", "quire"))
    ap.add_argument("--set", action="append", default=[], metavar="DIR_OR_CASES.jsonl")
    ap.add_argument("--per-case", action="store_true", help="one line per case")
    ap.add_argument("--per-table", action="store_true", help="and one line per expected table")
    ap.add_argument("--by-style", action="store_true", help="figures per style (or source)")
    ap.add_argument("--jobs", type=int, default=2, help="quire runs in parallel (default 2)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per case (default 300)")
    ap.add_argument("--json", metavar="OUT", help="also write the totals and cases as JSON")
    ap.add_argument("--gentables", help="the generator (default: tools/gentables next to quire)")
    ap.add_argument("--gen-count", type=int, default=36, help="files in the generated set")
    ap.add_argument("--gen-seed", type=int, default=1, help="seed of the generated set")
    ap.add_argument("--self-test", action="store_true", help="check the scorer and exit")
    ap.add_argument("--engine", choices=("text", "vlm", "auto"), help="quire's --engine")
    ap.add_argument("--model", metavar="DIR", help="quire's --model")
    ap.add_argument("--reader", metavar="DIR", help="quire's --reader (a folder, or none)")
    args = ap.parse_args()
    if args.self_test:
        self_test()
        return 0
    if not os.access(args.quire, os.X_OK):
        print("eval: %s is not an executable (build it with make)" % args.quire, file=sys.stderr)
        return 2
    quire = os.path.abspath(args.quire)
    tmp = None
    sets = list(args.set)
    if not sets:
        dev = os.path.join(REPO, "..", "shared", "eval-dev", "cases.jsonl")
        if os.path.exists(dev):
            sets.append(os.path.normpath(dev))
        gentables = args.gentables or os.path.join(os.path.dirname(quire), "tools", "gentables")
        tmp = tempfile.mkdtemp(prefix="quire-gen-")
        generated = generate_set(gentables, tmp, args.gen_count, args.gen_seed)
        if generated:
            sets.append(generated)
    if not sets:
        print("eval: no sets to score", file=sys.stderr)
        return 2
    everything = {}
    try:
        for s in sets:
            name = "generated" if tmp and s == tmp else s
            results = evaluate(quire, load_cases(s), args.jobs, args.timeout,
                               engine_args(args.engine, args.model, args.reader))
            total = report(name, results, args)
            everything[name] = {"total": total, "cases": [
                {k: v for k, v in r.items() if k != "expected"} for r in results]}
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(everything, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
