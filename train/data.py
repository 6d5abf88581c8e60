"""
train/data.py - what each training stage feeds the model, generated on the fly in DataLoader
workers (every sample is a pure function of its seed).

Image policy (the contract with quire's VLM engine, see README "Model input"): a table crop
whose text has an x-height of 8-14 px is padded with white on the right and bottom to whole
tiles of S x S (S = vision image_size); if it needs more than max_grid tiles per side it is
first scaled down to fit. Idefics3ImageProcessor is then run with
longest_edge = max(padded width, height) and do_image_splitting = true, which reduces to: the
tiles in raster order, then the whole padded image resized to S x S (Lanczos) as the global
image; a crop of one tile is just that tile. to_tiles() does exactly this (checked against
idefics3_ref.preprocess in the tests), so training sees what the C engine computes.

Stages:
  A  LineTiles:  S x S tiles of text lines on a 32-px pitch; CTC targets per band.
  B  ReadTasks:  a single cell (OTSL), all text of a small table ("Read the text."), small
                 tables (OTSL) - decoder alignment on reading.
  C  Tables:     tables whose size grows with progress (curriculum), spans last, with some
                 stage-B replay.
"""
import math
import random

import numpy as np
import torch
from PIL import Image

import otsl_vocab as ov
import synth

EVAL_SEED = 10 ** 9  # held-out seeds start here; training seeds stay below


# --- image -> tiles ---------------------------------------------------------------------------

def to_tiles(img, S, max_grid):
    """PIL 'L' image -> (uint8 array (n, S, S): tiles in raster order then the global image,
    rows, cols, scale applied)."""
    w, h = img.size
    scale = 1.0
    if w > max_grid * S or h > max_grid * S:
        scale = min(max_grid * S / w, max_grid * S / h)
        w, h = max(1, int(w * scale)), max(1, int(h * scale))
        img = img.resize((w, h), Image.LANCZOS)
    cols, rows = math.ceil(w / S), math.ceil(h / S)
    W, H = cols * S, rows * S
    canvas = Image.new("L", (W, H), 255)
    canvas.paste(img, (0, 0))
    a = np.asarray(canvas)
    frames = []
    if rows > 1 or cols > 1:
        for r in range(rows):
            for c in range(cols):
                frames.append(a[r * S:(r + 1) * S, c * S:(c + 1) * S])
        frames.append(np.asarray(canvas.resize((S, S), Image.LANCZOS)))
    else:
        rows = cols = 0
        frames.append(a)
    return np.stack(frames), rows, cols, scale


def normalize(x):
    """uint8 tensor -> float in [-1, 1] ((x / 255 - 0.5) / 0.5), shape (N, 1, S, S)."""
    return (x.float() / 127.5 - 1.0).unsqueeze(1)


# --- CTC charset --------------------------------------------------------------------------------

CHARSET = sorted(set(chr(c) for c in range(32, 127)) | set(synth.EXTRA_CHARS) |
                 set("".join(synth.WORDS + synth.PLACES + synth.STATUS + synth.GROUPS +
                             synth.UNITS + sum(synth.HEADERS.values(), []))) |
                 set("\u202f−†✓"))
CHAR_INDEX = {ch: i + 1 for i, ch in enumerate(CHARSET)}  # 0 = CTC blank
CTC_CLASSES = len(CHARSET) + 1


def encode_chars(text):
    return [CHAR_INDEX[ch] for ch in text if ch in CHAR_INDEX]


def decode_ctc(best):
    """Greedy CTC path (list of class ids) -> text."""
    out, prev = [], 0
    for k in best:
        if k != prev and k != 0:
            out.append(CHARSET[k - 1])
        prev = k
    return "".join(out)


# --- datasets -----------------------------------------------------------------------------------

class _Stream(torch.utils.data.IterableDataset):
    """Seeds base, base + n_workers, ... per worker; progress estimated from the count."""

    def __init__(self, cfg, base_seed, progress0=0, total=1):
        super().__init__()
        self.cfg, self.base, self.progress0, self.total = cfg, base_seed, progress0, max(total, 1)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        k = 0
        while True:
            seed = self.base + wid + k * nw
            progress = min(1.0, (self.progress0 + k * nw) / self.total)
            k += 1
            item = self.make(seed, progress)
            if item is not None:
                yield item

    def make(self, seed, progress):
        raise NotImplementedError


class LineTiles(_Stream):
    def make(self, seed, progress):
        S = self.cfg["model"]["vision_config"]["image_size"]
        pitch = 2 * self.cfg["model"]["vision_config"]["patch_size"]
        img, texts = synth.line_tile(seed, S, pitch, tuple(self.cfg["data"]["xh_range"]),
                                     scanned_p=self.cfg["data"].get("scanned_p", 0.2),
                                     reader_p=self.cfg["data"].get("reader_p", 0.0))
        return {"pixels": np.asarray(img)[None], "texts": texts}


def collate_lines(items):
    pix = torch.from_numpy(np.concatenate([it["pixels"] for it in items]))
    targets, lengths, where = [], [], []
    for i, it in enumerate(items):
        for b, t in enumerate(it["texts"]):
            if t:
                ids = encode_chars(t)
                if ids:
                    targets.extend(ids)
                    lengths.append(len(ids))
                    where.append((i, b))
    return {"pixels": pix, "targets": torch.tensor(targets, dtype=torch.long),
            "lengths": torch.tensor(lengths, dtype=torch.long),
            "where": torch.tensor(where, dtype=torch.long).reshape(-1, 2),
            "texts": [[t for t in it["texts"]] for it in items]}


class SeqTasks(_Stream):
    """Stage B and C items: tiles + token ids + where the answer starts."""

    def __init__(self, cfg, base_seed, tokenizer_path, stage, progress0=0, total=1):
        super().__init__(cfg, base_seed, progress0, total)
        self.tokenizer_path, self.stage = tokenizer_path, stage
        self.tok = None

    def make(self, seed, progress):
        if self.tok is None:
            self.tok = ov.load_tokenizer(self.tokenizer_path)
        rng = random.Random(seed * 31 + 7)
        st = self.cfg["stages"]
        if self.stage == "B" or rng.random() < st["C"].get("replay", 0.0):
            mix = st["B"]["mix"]
            r, kind = rng.random(), "small"
            for name, p in mix.items():
                if r < p:
                    kind = name
                    break
                r -= p
            return make_task(self.cfg, self.tok, seed, kind)
        c = st["C"]
        frac = min(1.0, progress * self.total / max(c["curriculum_samples"], 1))
        mr = round(c["start"][0] + (c["end"][0] - c["start"][0]) * frac)
        mc = round(c["start"][1] + (c["end"][1] - c["start"][1]) * frac)
        spans = frac >= c["spans_after"]
        return make_task(self.cfg, self.tok, seed, "table", mr, mc, spans)


def make_task(cfg, tok, seed, kind, max_rows=3, max_cols=3, spans=False, scanned=None):
    """One sequence sample. kind: cell | cell_rand (random letters) | read | small | table."""
    S = cfg["model"]["vision_config"]["image_size"]
    xr = tuple(cfg["data"]["xh_range"])
    if kind in ("cell", "cell_rand"):
        t = synth.random_table(seed, 1, 1, 1, 1, spans=False, multiline=False)
        t.cells[0].kind = "fcel"
        if kind == "cell_rand":  # letters no prior can guess
            t.cells[0].text = synth.pseudo_text(random.Random(seed * 7919 + 13), 1, 3)
        elif not t.cells[0].text:
            t.cells[0].text = synth.phrase(random.Random(seed), 1, 3)
    elif kind in ("read", "small"):
        t = synth.random_table(seed, 3, 3, spans=False, multiline=False)
    else:
        t = synth.random_table(seed, max_rows, max_cols, spans=spans)
    s = synth.render_table(t, seed, xr, scanned=scanned)
    if kind == "read":
        target = "\n".join(" ".join(c.text.split()) for c in t.cells if c.text.strip())
        instruction = ov.PROMPT_READ
    else:
        target = s.otsl
        instruction = ov.PROMPT_TABLE
    tiles, rows, cols, _ = to_tiles(s.image, S, cfg["data"]["max_grid"])
    return build_item(cfg, tok, tiles, rows, cols, instruction, target,
                      {"kind": kind, "style": s.style["rules"],
                       "scanned": bool(s.style.get("scanned")) if scanned is None else scanned,
                       "seed": seed})


def image_seq_len(cfg):
    v = cfg["model"]["vision_config"]
    return (v["image_size"] // v["patch_size"]) ** 2 // cfg["model"]["scale_factor"] ** 2


def build_item(cfg, tok, tiles, rows, cols, instruction, target, meta):
    prompt = tok.encode(ov.chat_prompt(rows, cols, image_seq_len(cfg), instruction))
    answer = tok.encode(target) + [tok.added[ov.EOS]]
    if len(answer) > cfg["data"]["max_text_tokens"]:
        return None
    return {"pixels": tiles, "ids": prompt + answer, "start": len(prompt), "target": target,
            "meta": meta}


def collate_seq(items, pad_id):
    pix = torch.from_numpy(np.concatenate([it["pixels"] for it in items]))
    T = max(len(it["ids"]) for it in items)
    ids = torch.full((len(items), T), pad_id, dtype=torch.long)
    labels = torch.full((len(items), T), -100, dtype=torch.long)
    for i, it in enumerate(items):
        n = len(it["ids"])
        ids[i, :n] = torch.tensor(it["ids"])
        # label at position p is the token at p + 1 (next-token prediction)
        labels[i, it["start"] - 1:n - 1] = torch.tensor(it["ids"][it["start"]:])
    return {"pixels": pix, "ids": ids, "labels": labels,
            "start": [it["start"] for it in items], "targets": [it["target"] for it in items],
            "meta": [it["meta"] for it in items], "n_images": [len(it["pixels"]) for it in items]}


class SeqCollate:
    """collate_seq with a fixed pad id (a class, so worker processes can pickle it)."""

    def __init__(self, pad_id):
        self.pad_id = pad_id

    def __call__(self, items):
        return collate_seq(items, self.pad_id)


def loader(ds, batch, collate, workers):
    kw = {}
    if workers > 0:
        kw = {"num_workers": workers, "prefetch_factor": 4, "persistent_workers": False,
              "pin_memory": torch.cuda.is_available()}
    return torch.utils.data.DataLoader(ds, batch_size=batch, collate_fn=collate, **kw)
