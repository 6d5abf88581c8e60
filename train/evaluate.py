"""
train/evaluate.py - metrics for every stage, on held-out synthetic samples (seeds >= 10**9).

  stage A  encoder CER: greedy CTC on line tiles (character error rate, exact lines)
  stage B  single-cell exact match, read-task exact match
  stage C  TEDS (tree edit distance similarity on <table>/<tr>/<td colspan rowspan>text, as
           PubTabNet defines it), TEDS-struct (text ignored) and cell-text exact match, by style
           (grid, booktabs, hrules, borderless, zebra; scanned separately)
  blind    the same batch with every image blanked (white): the loss gap shows how much the
           model uses the image (0 = it ignores it)

Decoding is greedy with a KV cache, batched over samples that share a prompt (same tile
layout), in the module's own dtype; it uses the same weights the export writes.

usage: python3 train/evaluate.py --ckpt train/ckpt [--n 200] [--device cuda]
       python3 train/evaluate.py --pdf-dir DIR   (score predictions in DIR/pred.jsonl against
                                                  gentables' DIR/truth.jsonl; see README)
"""
import argparse
import json
import math
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import otsl_vocab as ov  # noqa: E402
from model import _rope  # noqa: E402

# --- text distance ----------------------------------------------------------------------------


def levenshtein(a, b):
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


# --- TEDS -------------------------------------------------------------------------------------

class Node:
    __slots__ = ("tag", "cs", "rs", "text", "children")

    def __init__(self, tag, cs=1, rs=1, text="", children=None):
        self.tag, self.cs, self.rs, self.text = tag, cs, rs, text
        self.children = children or []


def html_tree(n_rows, n_cols, cells, structure_only=False):
    rows = [[] for _ in range(n_rows)]
    for c in sorted(cells, key=lambda c: (c.r, c.c)):
        rows[c.r].append(Node("td", c.cs, c.rs, "" if structure_only else " ".join(c.text.split())))
    return Node("table", children=[Node("tr", children=r) for r in rows])


def _postorder(root):
    """-> (nodes in postorder, leftmost leaf index of each, keyroots)."""
    nodes, lml = [], []

    def walk(n):
        first = None
        for ch in n.children:
            idx = walk(ch)
            if first is None:
                first = idx
        nodes.append(n)
        lml.append(lml[first] if first is not None else len(nodes) - 1)
        return len(nodes) - 1
    walk(root)
    seen, keyroots = set(), []
    for i in range(len(nodes) - 1, -1, -1):
        if lml[i] not in seen:
            keyroots.append(i)
            seen.add(lml[i])
    return nodes, lml, sorted(keyroots)


def _rename(a, b):
    if a.tag != b.tag:
        return 1.0
    if a.tag != "td":
        return 0.0
    if a.cs != b.cs or a.rs != b.rs:
        return 1.0
    if a.text == b.text:
        return 0.0
    return levenshtein(a.text, b.text) / max(len(a.text), len(b.text))


def tree_edit_distance(t1, t2):
    """Zhang-Shasha, unit insert/delete, _rename for relabels."""
    n1, l1, k1 = _postorder(t1)
    n2, l2, k2 = _postorder(t2)
    td = [[0.0] * len(n2) for _ in range(len(n1))]
    for i in k1:
        for j in k2:
            li, lj = l1[i], l2[j]
            m, n = i - li + 2, j - lj + 2
            fd = [[0.0] * n for _ in range(m)]
            for x in range(1, m):
                fd[x][0] = fd[x - 1][0] + 1
            for y in range(1, n):
                fd[0][y] = fd[0][y - 1] + 1
            for x in range(1, m):
                for y in range(1, n):
                    xi, yj = li + x - 1, lj + y - 1
                    if l1[xi] == li and l2[yj] == lj:
                        fd[x][y] = min(fd[x - 1][y] + 1, fd[x][y - 1] + 1,
                                       fd[x - 1][y - 1] + _rename(n1[xi], n2[yj]))
                        td[xi][yj] = fd[x][y]
                    else:
                        p, q = l1[xi] - li, l2[yj] - lj
                        fd[x][y] = min(fd[x - 1][y] + 1, fd[x][y - 1] + 1,
                                       fd[p][q] + td[xi][yj])
    return td[-1][-1]


def teds(pred_otsl, true_otsl, structure_only=False):
    a = html_tree(*ov.parse_otsl(pred_otsl), structure_only=structure_only)
    b = html_tree(*ov.parse_otsl(true_otsl), structure_only=structure_only)

    def size(n):
        return 1 + sum(size(c) for c in n.children)
    return max(0.0, 1.0 - tree_edit_distance(a, b) / max(size(a), size(b)))


def text_cer(pred_otsl, true_otsl):
    """Character error rate of the text between the tags (edits / true characters, capped at 1):
    a measure of reading that does not depend on the tokenizer, and that moves before exact
    matches do."""
    strip = lambda s: re.sub(r"<[^>]*>", " ", s).split()  # noqa: E731
    p, t = " ".join(strip(pred_otsl)), " ".join(strip(true_otsl))
    return min(1.0, levenshtein(p, t) / max(len(t), 1))


def cell_exact(pred_otsl, true_otsl):
    """Fraction of true grid positions whose text (anchor text, '' where covered) the
    prediction has at the same position."""
    tr, tc, tcells = ov.parse_otsl(true_otsl)
    pr, pc, pcells = ov.parse_otsl(pred_otsl)
    tg, pg = ov.grid_texts(tr, tc, tcells), ov.grid_texts(pr, pc, pcells)
    hit = tot = 0
    for r in range(tr):
        for c in range(tc):
            if not tg[r][c]:
                continue
            tot += 1
            hit += r < pr and c < pc and pg[r][c] == tg[r][c]
    return hit / tot if tot else float(pr == tr and pc == tc)


# --- decoding ---------------------------------------------------------------------------------

@torch.no_grad()
def greedy(model, pixels, prompt_ids, max_new, eos_id):
    """Batched greedy decoding with a KV cache; every row of prompt_ids (B, T0) has the same
    length and image-token layout. -> list of lists of new ids (eos excluded)."""
    tm = model.model.text_model
    feats = model.image_features(pixels)
    x = tm.embed_tokens(prompt_ids)
    mask = (prompt_ids == model.image_token_id).unsqueeze(-1)
    x = x.masked_scatter(mask, feats.to(x.dtype).reshape(-1, x.shape[-1]))
    B, T0, _ = x.shape
    cos, sin = tm.rope(T0 + max_new, x.device)
    caches = [None] * len(tm.layers)
    out = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool, device=x.device)
    pos = 0
    for step in range(max_new):
        T = x.shape[1]
        c, s = cos[pos:pos + T], sin[pos:pos + T]
        h = x
        for li, layer in enumerate(tm.layers):
            a = layer.self_attn
            y = layer.input_layernorm(h)
            q = a.q_proj(y).view(B, T, a.heads, a.hd).transpose(1, 2)
            k = a.k_proj(y).view(B, T, a.kv_heads, a.hd).transpose(1, 2)
            v = a.v_proj(y).view(B, T, a.kv_heads, a.hd).transpose(1, 2)
            q, k = _rope(q, c, s), _rope(k, c, s)
            if caches[li] is not None:
                k = torch.cat([caches[li][0], k], 2)
                v = torch.cat([caches[li][1], v], 2)
            caches[li] = (k, v)
            rep = a.heads // a.kv_heads
            kk, vv = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
            att = q @ kk.transpose(-1, -2) / math.sqrt(a.hd)
            if T > 1:
                L = kk.shape[2]
                m = torch.ones(T, L, dtype=torch.bool, device=x.device).tril(L - T)
                att = att.masked_fill(~m, float("-inf"))
            o = (att.float().softmax(-1).to(vv.dtype) @ vv).transpose(1, 2).reshape(B, T, -1)
            h = h + a.o_proj(o)
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        logits = model.head(tm.norm(h[:, -1]))
        nxt = logits.argmax(-1)
        for b in range(B):
            if not done[b]:
                if int(nxt[b]) == eos_id:
                    done[b] = True
                else:
                    out[b].append(int(nxt[b]))
        if bool(done.all()):
            break
        pos += T
        x = tm.embed_tokens(nxt[:, None])
    return out


def _autocast(device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


@torch.no_grad()
def eval_ctc(model, cfg, n, device, seed0=data.EVAL_SEED):
    model.eval()
    ds = data.LineTiles(cfg, seed0)
    it = iter(ds)
    items = [next(it) for _ in range(n)]
    errs = chars = exact = lines = 0
    for i in range(0, n, 32):
        b = data.collate_lines(items[i:i + 32])
        with _autocast(device):
            lp = model.ctc_logits(data.normalize(b["pixels"].to(device)))
        best = lp.argmax(-1).cpu()
        for j, texts in enumerate(b["texts"]):
            for band, t in enumerate(texts):
                if not t:
                    continue
                want = "".join(ch for ch in t if ch in data.CHAR_INDEX)
                got = data.decode_ctc(best[j, band].tolist())
                errs += levenshtein(got, want)
                chars += len(want)
                exact += got == want
                lines += 1
    model.train()
    return {"cer": errs / max(chars, 1), "line_exact": exact / max(lines, 1)}


def eval_items(cfg, tok, kind, n, seed0=data.EVAL_SEED, **kw):
    items, s = [], seed0
    while len(items) < n:
        it = data.make_task(cfg, tok, s, kind, **kw)
        s += 1
        if it is not None:
            items.append(it)
    return items


@torch.no_grad()
def eval_seq(model, cfg, tok, items, device, max_new=None, blind=False, batch=32):
    """Greedy decodes items (from eval_items); -> list of (prediction text, item)."""
    model.eval()
    eos = tok.added[ov.EOS]
    groups = {}
    for it in items:
        groups.setdefault(tuple(it["ids"][:it["start"]]), []).append(it)
    results = []
    for prompt, its in groups.items():
        for i in range(0, len(its), batch):
            chunk = its[i:i + batch]
            pix = torch.from_numpy(np.concatenate([it["pixels"] for it in chunk])).to(device)
            if blind:
                pix = torch.full_like(pix, 255)
            ids = torch.tensor([list(prompt)] * len(chunk), device=device)
            mn = max_new or min(cfg["data"]["max_text_tokens"],
                                max(len(it["ids"]) - it["start"] for it in chunk) + 16)
            with _autocast(device):
                outs = greedy(model, data.normalize(pix), ids, mn, eos)
            for o, it in zip(outs, chunk):
                results.append((tok.decode(o), it))
    model.train()
    return results


@torch.no_grad()
def seq_loss(model, cfg, tok, items, device, blind=False):
    """Mean answer-token loss over items (teacher forcing)."""
    model.eval()
    tot, cnt = 0.0, 0
    pad = tok.added[ov.PAD]
    for i in range(0, len(items), 16):
        b = data.collate_seq(items[i:i + 16], pad)
        pix = b["pixels"].to(device)
        if blind:
            pix = torch.full_like(pix, 255)
        with _autocast(device):
            logits = model(data.normalize(pix), b["ids"].to(device))
        lab = b["labels"].to(device)
        loss = F.cross_entropy(logits.float().transpose(1, 2), lab, ignore_index=-100,
                               reduction="sum")
        tot += float(loss)
        cnt += int((lab != -100).sum())
    model.train()
    return tot / max(cnt, 1)


def score_tables(results):
    """(pred, item) pairs of OTSL items -> metrics overall and by style."""
    by = {}
    for pred, it in results:
        m = it["meta"]
        key = "scanned" if m.get("scanned") else m.get("style", "?")
        t = it["target"]
        r = by.setdefault(key, {"n": 0, "teds": 0.0, "teds_struct": 0.0, "cell_exact": 0.0,
                                "table_exact": 0.0})
        r["n"] += 1
        r["teds"] += teds(pred, t)
        r["teds_struct"] += teds(pred, t, structure_only=True)
        r["cell_exact"] += cell_exact(pred, t)
        r["table_exact"] += pred.strip() == t
    total = {"n": 0, "teds": 0.0, "teds_struct": 0.0, "cell_exact": 0.0, "table_exact": 0.0}
    for r in by.values():
        for k in total:
            total[k] += r[k]
    out = {}
    for k, r in list(by.items()) + [("all", total)]:
        n = max(r["n"], 1)
        out[k] = {"n": r["n"], **{m: round(r[m] / n, 4) for m in r if m != "n"}}
    return out


def stage_metrics(model, cfg, tok, stage, device, n):
    """The gate metrics of a stage (held-out), plus the blind gap where decoding is used."""
    t0 = time.time()
    if stage == "A":
        m = eval_ctc(model, cfg, n, device)
    elif stage == "B":
        cells = eval_items(cfg, tok, "cell", n)
        res = eval_seq(model, cfg, tok, cells, device)
        m = {"cell_exact": sum(p == it["target"] for p, it in res) / len(res),
             "cell_cer": sum(text_cer(p, it["target"]) for p, it in res) / len(res)}
        reads = eval_items(cfg, tok, "read", max(n // 2, 1), seed0=data.EVAL_SEED + 10 ** 6)
        res = eval_seq(model, cfg, tok, reads, device)
        m["read_exact"] = sum(p == it["target"] for p, it in res) / len(res)
        rand = eval_items(cfg, tok, "cell_rand", n, seed0=data.EVAL_SEED + 3 * 10 ** 6)
        m["rand_cer"] = sum(text_cer(p, it["target"]) for p, it in
                            eval_seq(model, cfg, tok, rand, device)) / len(rand)
        m["loss"] = seq_loss(model, cfg, tok, cells, device)
        m["blind_gap"] = seq_loss(model, cfg, tok, cells, device, blind=True) - m["loss"]
    else:
        c = cfg["stages"]["C"]
        items = eval_items(cfg, tok, "table", n, max_rows=c["end"][0], max_cols=c["end"][1],
                           spans=True)
        res = eval_seq(model, cfg, tok, items, device)
        sc = score_tables(res)
        m = {"teds": sc["all"]["teds"], "teds_struct": sc["all"]["teds_struct"],
             "cell_exact": sc["all"]["cell_exact"], "by_style": sc}
        small = eval_items(cfg, tok, "small", max(n // 2, 1), seed0=data.EVAL_SEED + 2 * 10 ** 6)
        m["small_teds"] = score_tables(eval_seq(model, cfg, tok, small, device))["all"]["teds"]
        m["loss"] = seq_loss(model, cfg, tok, items[:32], device)
        m["blind_gap"] = seq_loss(model, cfg, tok, items[:32], device, blind=True) - m["loss"]
    m["eval_s"] = round(time.time() - t0, 1)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}


def main():
    import train as tr
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--ckpt", default=os.path.join(os.path.dirname(__file__), "ckpt"))
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--stage", default="", help="A, B or C (default: all that apply)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default="", help="write the metrics as JSON here")
    a = ap.parse_args()
    device = torch.device(a.device)
    model, recipe, cfg, tok = tr.load_for_eval(a.ckpt, device)
    stages = a.stage.split(",") if a.stage else ["A", "B", "C"]
    out = {}
    for st in stages:
        out[st] = stage_metrics(model, cfg, tok, st, device, a.n)
        print(st, json.dumps(out[st]), flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
