#!/usr/bin/env python3
"""tools/genlatex.py - a seeded set of table PDFs typeset by pdflatex, with their ground truth.

usage: genlatex.py --out DIR [--count N] [--seed S] [--keep-tex]

Why: tools/gentables draws its tables with cairo, so every test PDF shares cairo's text layer
(one show_glyphs run per string, DejaVu/Liberation fonts, exact spaces). Papers are typeset by
TeX: Type 1 fonts, kerning, ligatures (fi, fl, ff), inter-word spaces that are not characters,
booktabs rules of three weights, \\multicolumn headers with \\cmidrule, captions above the table,
two-column pages, page numbers. This tool writes such PDFs and DIR/truth.jsonl in the format
tools/eval.py reads (one line per page, the same fields as gentables' truth; a merged cell's text
sits at its top-left position and the positions it covers are ""), so the text-layer engine is
also measured on documents it was not tuned on.

Styles, in turn: booktabs, grid (| columns and \\hline under every row), hrules (\\hline above
and below the header and at the end), plain (no rules: borderless), spans (booktabs with a
two-level header: \\multicolumn groups over \\cmidrule), twocol (a two-column article with a
table in one column), notable (prose and an itemize list: no table). Fonts: Latin Modern
(lmodern), Times (mathptmx) and Helvetica (helvet), T1-encoded Type 1, 10-12 pt. File i's content depends
only on (seed, i).

Needs pdflatex, booktabs, lmodern and the URW Type 1 fonts: `sh tools/install-deps.sh --latex`
installs them (texlive-latex-recommended, texlive-fonts-recommended, lmodern); exits with a
message when something is missing.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

STYLES = ["booktabs", "grid", "hrules", "plain", "spans", "twocol", "notable"]
FONTS = [("latin-modern", "\\usepackage{lmodern}"), ("times", "\\usepackage{mathptmx}"), ("helvetica",
         "\\usepackage[scaled=0.92]{helvet}\\renewcommand{\\familydefault}{\\sfdefault}")]

WORDS = ("revenue cost margin region segment north south east west total growth shipping "
         "office staff profit budget forecast actual variance quarter annual interest "
         "inventory capital reserve deferred liability asset equity dividend tariff "
         "efficiency flow field fine office affiliate difficult").split()
NAMES = ["Hamburg", "Gdańsk", "Düsseldorf", "Ålesund", "Señora López", "Øresund", "Zürich",
         "Málaga", "Łódź", "Göteborg", "Kraków", "Orléans", "Tromsø", "Île-de-France"]
HEADERS = ["Item", "Region", "Category", "Description", "Segment", "Account", "Project"]
NUM_HEADERS = ["Value", "Amount", "Change", "Share", "Cost", "Rate", "Growth", "Units",
               "Budget", "Actual", "Variance", "Price"]
SENTENCE_WORDS = ("the of and a to in is that for it as was with be by on not this are or "
                  "from at which but have an they one were all their has been more when "
                  "table results shows measured values across regions first efficient final "
                  "figures offered affiliated fluid difficult").split()


def thousands(v):
    return "{:,}".format(v)


def gen_number(r, kind):
    if kind == "int":
        v = r.randint(0, 10 ** r.randint(1, 6))
        return thousands(v)
    if kind == "neg":
        v = r.randint(1, 10 ** r.randint(1, 5))
        return "(%s)" % thousands(v) if r.random() < 0.4 else thousands(v)
    if kind == "pct":
        return "%.1f%%" % (r.uniform(-30, 99))
    if kind == "cur":  # no euro: textcomp fakes it from a C and a rule in these fonts
        return r.choice(["$", "£"]) + thousands(r.randint(1, 99999)) + ".%02d" % r.randint(0, 99)
    if kind == "pm":
        return "%.1f ± %.1f" % (r.uniform(1, 999), r.uniform(0.1, 9.9))
    if kind == "date":
        return "%04d-%02d-%02d" % (r.randint(1995, 2026), r.randint(1, 12), r.randint(1, 28))
    if kind == "dash":
        return "—"
    return str(r.randint(0, 99))


def gen_label(r):
    if r.random() < 0.4:
        return r.choice(NAMES)
    n = r.randint(1, 3)
    return " ".join(r.choice(WORDS) for _ in range(n)).capitalize()


def gen_sentence(r):
    n = r.randint(8, 18)
    words = [r.choice(SENTENCE_WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def gen_paragraph(r, sentences):
    return " ".join(gen_sentence(r) for _ in range(sentences))


def tex_escape(s):
    out = []
    for ch in s:
        if ch in "&%$#_{}":
            out.append("\\" + ch)
        elif ch == "~":
            out.append("\\textasciitilde{}")
        elif ch == "^":
            out.append("\\textasciicircum{}")
        elif ch == "\\":
            out.append("\\textbackslash{}")
        else:
            out.append(ch)
    return "".join(out)


class Table:
    """A generated table: header rows (each a list of (text, colspan)), body rows (texts)."""

    def __init__(self, r, style, max_rows):
        self.n_cols = r.randint(2, 4 if style == "twocol" else 6)
        kinds = [r.choice(["int", "neg", "pct", "cur", "pm", "date", "small"])
                 for _ in range(self.n_cols - 1)]
        if r.random() < 0.25:
            kinds[-1] = "word"
        self.kinds = ["label"] + kinds
        self.header = []
        if style == "spans" and self.n_cols >= 3:
            groups, c = [("", 1)], 1
            while c < self.n_cols:
                w = min(r.randint(2, 3), self.n_cols - c)
                groups.append((str(r.randint(2019, 2026)) if r.random() < 0.5
                               else gen_label(r), w))
                c += w
            self.header.append(groups)
        names = [r.choice(HEADERS)] + r.sample(NUM_HEADERS, self.n_cols - 1)
        self.header.append([(n, 1) for n in names])
        self.body = []
        for _ in range(r.randint(3, max_rows)):
            row = []
            for k in self.kinds:
                if k == "label":
                    row.append(gen_label(r))
                elif k == "word":
                    row.append(r.choice(["yes", "no", "open", "closed", "n/a", "approved"]))
                elif r.random() < 0.05:
                    row.append("")
                else:
                    row.append(gen_number(r, k))
            self.body.append(row)

    def truth(self):
        rows = []
        for hr in self.header:
            row = []
            for text, span in hr:
                row.append(text)
                row.extend([""] * (span - 1))
            rows.append(row)
        return rows + [list(b) for b in self.body]

    def latex(self, style):
        align = "".join("l" if k in ("label", "word") else "r" for k in self.kinds)
        if style == "grid":
            spec = "|" + "|".join(align) + "|"
        else:
            spec = align
        lines = ["\\begin{tabular}{%s}" % spec]
        top = {"booktabs": "\\toprule", "spans": "\\toprule", "grid": "\\hline",
               "hrules": "\\hline", "twocol": "\\toprule"}.get(style, "")
        mid = {"booktabs": "\\midrule", "spans": "\\midrule", "grid": "\\hline",
               "hrules": "\\hline", "twocol": "\\midrule"}.get(style, "")
        bottom = {"booktabs": "\\bottomrule", "spans": "\\bottomrule", "grid": "\\hline",
                  "hrules": "\\hline", "twocol": "\\bottomrule"}.get(style, "")
        if top:
            lines.append(top)
        for i, hr in enumerate(self.header):
            cells, c, rules = [], 0, []
            for text, span in hr:
                if span > 1:
                    bar = "|" if style == "grid" else ""
                    cells.append("\\multicolumn{%d}{c%s}{%s}" % (span, bar, tex_escape(text)))
                    rules.append("\\cmidrule(lr){%d-%d}" % (c + 1, c + span))
                else:
                    cells.append(tex_escape(text))
                c += span
            lines.append(" & ".join(cells) + " \\\\")
            if i + 1 < len(self.header) and rules:
                lines.append(" ".join(rules))
        if mid:
            lines.append(mid)
        for j, b in enumerate(self.body):
            lines.append(" & ".join(tex_escape(t) for t in b) + " \\\\")
            if style == "grid" and j + 1 < len(self.body):
                lines.append("\\hline")
        if bottom:
            lines.append(bottom)
        lines.append("\\end{tabular}")
        return "\n".join(lines)


def document(r, style):
    """The LaTeX source and the truth tables of one single-page document."""
    font_name, font_pkg = r.choice(FONTS)
    size = r.choice([10, 11, 12])
    cls = "article"
    opts = ["%dpt" % size, r.choice(["a4paper", "letterpaper"])]
    if style == "twocol":
        opts.append("twocolumn")
    pre = ["\\documentclass[%s]{%s}" % (",".join(opts), cls),
           "\\usepackage[T1]{fontenc}", "\\usepackage[utf8]{inputenc}", "\\usepackage{textcomp}",
           "\\usepackage{booktabs}", "\\usepackage[margin=2.2cm]{geometry}", font_pkg,
           "\\begin{document}"]
    body, tables = [], []
    body.append("\\section*{%s}" % tex_escape(gen_label(r)))
    body.append(tex_escape(gen_paragraph(r, r.randint(2, 4))))
    if style == "notable":
        body.append("\\begin{itemize}")
        for _ in range(r.randint(3, 6)):
            body.append("\\item " + tex_escape(gen_sentence(r)))
        body.append("\\end{itemize}")
        body.append(tex_escape(gen_paragraph(r, r.randint(3, 6))))
    else:
        n_tables = 1 if style == "twocol" or r.random() < 0.7 else 2
        for k in range(n_tables):
            t = Table(r, style, 8 if n_tables == 2 else 14)
            tables.append(t.truth())
            env = "table"
            body.append("\\begin{%s}[h]\\centering" % env)
            body.append("\\caption{%s}" % tex_escape(gen_label(r)))
            body.append(t.latex(style))
            body.append("\\end{%s}" % env)
            body.append(tex_escape(gen_paragraph(r, r.randint(1, 3))))
        if style == "twocol":
            body.append(tex_escape(gen_paragraph(r, r.randint(14, 22))))
    body.append("\\end{document}")
    return "\n".join(pre + body) + "\n", tables, "%s %dpt" % (font_name, size)


def pdf_pages(pdf):
    out = subprocess.run(["pdfinfo", pdf], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=70)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep-tex", action="store_true", help="keep DIR/<name>.tex")
    args = ap.parse_args()
    if not shutil.which("pdflatex"):
        sys.exit("genlatex: pdflatex is not installed (Debian: texlive-latex-recommended)")
    for need in ("booktabs.sty", "lmodern.sty", "ptmr8t.tfm", "phvr8t.tfm"):
        kp = subprocess.run(["kpsewhich", need], capture_output=True, text=True)
        if kp.returncode != 0 or not kp.stdout.strip():
            sys.exit("genlatex: %s is missing: run `sh tools/install-deps.sh --latex`" % need)
    os.makedirs(args.out, exist_ok=True)
    truth_lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.count):
            style = STYLES[i % len(STYLES)]
            r = random.Random("%d/%d/%s" % (args.seed, i, style))
            tex, tables, note = document(r, style)
            name = "latex-%s-%04d" % (style, i)
            src = os.path.join(tmp, name + ".tex")
            with open(src, "w", encoding="utf-8") as f:
                f.write(tex)
            run = subprocess.run(["pdflatex", "-interaction=batchmode", "-halt-on-error",
                                  "-output-directory", tmp, src], capture_output=True, text=True)
            pdf = os.path.join(tmp, name + ".pdf")
            if run.returncode != 0 or not os.path.exists(pdf):
                sys.exit("genlatex: pdflatex failed on %s (see %s)" % (name, src))
            if pdf_pages(pdf) != 1:
                print("genlatex: %s ran over one page; left out" % name, file=sys.stderr)
                continue
            shutil.copy(pdf, os.path.join(args.out, name + ".pdf"))
            if args.keep_tex:
                shutil.copy(src, os.path.join(args.out, name + ".tex"))
            truth_lines.append(json.dumps({
                "id": "latex-%s-%04d-p1" % (style, i), "source": "generated-latex",
                "pdf": name + ".pdf", "page": 1, "tables": tables, "style": "latex-" + style,
                "note": note}, ensure_ascii=False))
    with open(os.path.join(args.out, "truth.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(truth_lines) + "\n")
    print("genlatex: %d PDFs in %s" % (len(truth_lines), args.out))


if __name__ == "__main__":
    main()
