#!/usr/bin/env python3
"""Scores quire's engines side by side on the same sets, in one run (issue: model in pipeline).

usage: tools/eval_engines.py --model DIR [--quire build/quire] [--engines text,vlm,auto]
                             [--gen-count 200] [--gen-seed 7] [--scan-count 90] [--scan-seed 11]
                             [--jobs 2] [--json OUT]

Sets (made fresh in a temporary folder, except eval-dev):
  eval-dev   ../shared/eval-dev/cases.jsonl (real PDFs), when it is there
  generated  build/tools/gentables --count GEN_COUNT --seed GEN_SEED --style all (born-digital)
  scanned    build/tools/scanify over gentables --count SCAN_COUNT --seed SCAN_SEED: the same
             pages as image-only scans (no text layer), scored against the same truth
For each set and engine it runs tools/eval.py's scorer (quire convert --engine E --model DIR)
and prints one table per set: a row per style (or eval-dev source) and the total, with found,
cell_acc and TEDS for each engine, then one `name: value` line per headline figure:
  <set>_<engine>_{found,cell_acc,teds}, and the targets of the issue
  auto_minus_text_teds_eval_dev (> 0 wanted), auto_lost_tables_eval_dev (0 wanted: tables the
  text engine found and auto did not), scanned_auto_teds (>= 0.85 wanted).
The text engine cannot read scans (it records their regions as unread): its scanned row is 0.
"""
import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import eval as ev  # noqa: E402  (tools/eval.py: the scorer)

METRICS = ("found", "cell_acc", "teds")


def by_group(results):
    groups = collections.defaultdict(list)
    for r in results:
        groups[r["style"] or "(none)"].append(r)
    return groups


def print_set(name, per_engine, engines):
    head = "%-18s" % name + "".join("| %-24s" % e for e in engines)
    print(head)
    print("%-18s" % "" + "".join("| %-24s" % "found  cells  TEDS" for _ in engines))
    first = per_engine[engines[0]]
    styles = sorted(by_group(first))
    rows = [(s, {e: by_group(per_engine[e]).get(s, []) for e in engines}) for s in styles]
    rows.append(("TOTAL", {e: per_engine[e] for e in engines}))
    for label, res in rows:
        line = "%-18s" % label[:18]
        for e in engines:
            s = ev.summarize(res[e])
            if s["tables"]:
                line += "| %5.1f%% %5.1f%% %5.1f%%   " % (100 * s["found"], 100 * s["cell_acc"],
                                                        100 * s["teds"])
            else:
                line += "| %-24s" % ("fp %d/%d" % (s["fp_pages"], s["notable_pages"]))
        print(line)
    print()


def lost_tables(text_results, auto_results):
    """Expected tables the text engine found and auto did not (same cases, same order)."""
    lost = 0
    for t, a in zip(text_results, auto_results):
        for st, sa in zip(t["scores"], a["scores"]):
            lost += 1 if st["found"] and not sa["found"] else 0
    return lost


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quire", default=os.path.join(REPO, "build", "quire"))
    ap.add_argument("--model", required=True, metavar="DIR", help="the model the vlm/auto use")
    ap.add_argument("--engines", default="text,vlm,auto")
    ap.add_argument("--gen-count", type=int, default=200)
    ap.add_argument("--gen-seed", type=int, default=7)
    ap.add_argument("--scan-count", type=int, default=90)
    ap.add_argument("--scan-seed", type=int, default=11)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    quire = os.path.abspath(args.quire)
    tools = os.path.join(os.path.dirname(quire), "tools")
    engines = [e for e in args.engines.split(",") if e]
    tmp = tempfile.mkdtemp(prefix="quire-engines-")
    figures = collections.OrderedDict()
    everything = {}
    try:
        sets = []
        dev = os.path.normpath(os.path.join(REPO, "..", "shared", "eval-dev", "cases.jsonl"))
        if os.path.exists(dev):
            sets.append(("eval-dev", dev))
        gen = os.path.join(tmp, "gen")
        subprocess.run([os.path.join(tools, "gentables"), "--out", gen, "--count",
                        str(args.gen_count), "--seed", str(args.gen_seed), "--style", "all"],
                       check=True, stdout=subprocess.DEVNULL)
        sets.append(("generated", gen))
        born, scan = os.path.join(tmp, "scan-born"), os.path.join(tmp, "scan")
        subprocess.run([os.path.join(tools, "gentables"), "--out", born, "--count",
                        str(args.scan_count), "--seed", str(args.scan_seed), "--style", "all"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([os.path.join(tools, "scanify"), born, scan], check=True,
                       stdout=subprocess.DEVNULL)
        sets.append(("scanned", scan))
        for name, path in sets:
            cases = ev.load_cases(path)
            per_engine = {}
            for e in engines:
                per_engine[e] = ev.evaluate(quire, cases, args.jobs, args.timeout,
                                            ev.engine_args(e, args.model))
                total = ev.summarize(per_engine[e])
                for m in METRICS:
                    figures["%s_%s_%s" % (name.replace("-", "_"), e, m)] = round(total[m], 4)
                figures["%s_%s_errors" % (name.replace("-", "_"), e)] = total["errors"]
            print_set(name, per_engine, engines)
            everything[name] = {e: ev.summarize(per_engine[e]) for e in engines}
            if name == "eval-dev" and "text" in per_engine and "auto" in per_engine:
                figures["auto_minus_text_teds_eval_dev"] = round(
                    everything[name]["auto"]["teds"] - everything[name]["text"]["teds"], 4)
                figures["auto_lost_tables_eval_dev"] = lost_tables(per_engine["text"],
                                                                   per_engine["auto"])
            if name == "scanned" and "auto" in per_engine:
                figures["scanned_auto_teds"] = round(everything[name]["auto"]["teds"], 4)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for k, v in figures.items():
        print("%s: %s" % (k, v))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"model": args.model, "sets": everything, "figures": figures}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
