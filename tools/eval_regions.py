#!/usr/bin/env python3
"""Score table detection alone: the regions quire finds on a page against the tables' boxes.

usage: tools/eval_regions.py --pagedump build/tools/pagedump DIR [DIR ...]

Each DIR holds a truth.jsonl with "bboxes" (what tools/gentables writes, and tools/scanify
copies for image-only pages). For every page it runs `pagedump FILE PAGE`, reads the
`region N KIND (x0,y0)-(x1,y1)` lines and matches regions to true boxes one to one (greedy by
intersection over union). A table counts as found when a region overlaps it with IoU >= 0.5.
Prints, per style: tables, found, mean IoU of the found ones, and false regions (regions that
match no table, and regions on pages without tables). Detection is all it measures: on pages
without a text layer quire finds regions but has no engine to fill them yet.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys

REGION = re.compile(r"^region \d+ (\w+) \(([-\d.]+),([-\d.]+)\)-\(([-\d.]+),([-\d.]+)\)")


def iou(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def regions(pagedump, pdf, page):
    out = subprocess.run([pagedump, pdf, str(page)], capture_output=True, text=True,
                         timeout=120).stdout
    found = []
    for line in out.splitlines():
        m = REGION.match(line)
        if m:
            found.append(tuple(float(m.group(i)) for i in range(2, 6)))
    return found


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pagedump", default="build/tools/pagedump")
    ap.add_argument("dirs", nargs="+")
    args = ap.parse_args(argv)
    stats = collections.defaultdict(lambda: [0, 0, 0.0, 0])  # tables, found, iou sum, false
    for d in args.dirs:
        for line in open(os.path.join(d, "truth.jsonl"), encoding="utf-8"):
            case = json.loads(line)
            truth = case.get("bboxes", [])
            got = regions(args.pagedump, os.path.join(d, case["pdf"]), case["page"])
            s = stats[case.get("style", "?")]
            s[0] += len(truth)
            pairs = sorted(((iou(t, g), i, j) for i, t in enumerate(truth)
                            for j, g in enumerate(got)), reverse=True)
            used_t, used_g = set(), set()
            for v, i, j in pairs:
                if v < 0.5 or i in used_t or j in used_g:
                    continue
                used_t.add(i)
                used_g.add(j)
                s[1] += 1
                s[2] += v
            s[3] += len(got) - len(used_g)
    total = [0, 0, 0.0, 0]
    for style in sorted(stats):
        t, f, v, fp = stats[style]
        total = [total[0] + t, total[1] + f, total[2] + v, total[3] + fp]
        print(f"  {style:24s} tables {t:4d}  found {100 * f / t if t else 0:5.1f}%  "
              f"iou {v / f if f else 0:.2f}  false regions {fp}")
    t, f, v, fp = total
    print(f"TOTAL                      tables {t:4d}  found {100 * f / t if t else 0:5.1f}%  "
          f"iou {v / f if f else 0:.2f}  false regions {fp}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
