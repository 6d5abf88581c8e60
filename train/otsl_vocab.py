"""
train/otsl_vocab.py - the output language (OTSL as DocTags writes it) and the tokenizer.

Why: the model writes OTSL; training needs the target strings, evaluation needs to parse
what the model wrote back into a grid, and quire's C engine needs a Hugging Face
tokenizer.json it can load (llm/tokenizer.c, checked against train/bpe_ref.py).

OTSL: one tag per grid position, rows ended by <nl>, the whole table between <otsl> and
</otsl>. A cell's anchor (top-left position) carries its tag and text:
  <fcel> full cell, <ecel> empty cell, <ched> column header, <rhed> row header,
  <srow> section row; positions covered by a merged cell are <lcel> (from the left),
  <ucel> (from above) or <xcel> (both). Text follows its tag directly.

Tokenizer: byte-level BPE exactly as bpe_ref.py (Digits(individual) + GPT-2 ByteLevel
pre-tokenization), 256 byte symbols, a few hundred merges learned from synthetic table text,
and the Idefics3 special tokens + the OTSL tags as added tokens (matched first, kept whole).
FastBPE below encodes identically to bpe_ref.BPE.encode (tested) but caches words.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe_ref  # noqa: E402
from idefics3_ref import image_prompt  # what Idefics3Processor puts for one <image>

OTSL_TAGS = ["<otsl>", "</otsl>", "<fcel>", "<ecel>", "<lcel>", "<ucel>", "<xcel>", "<ched>",
             "<rhed>", "<srow>", "<nl>"]
ANCHOR_TAGS = ("<fcel>", "<ecel>", "<ched>", "<rhed>", "<srow>")
MAX_TILE_GRID = 6  # <row_r_col_c> tokens for r, c in 1..6
SPECIAL = (["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<end_of_utterance>",
            "<fake_token_around_image>", "<image>", "<global-img>"] +
           [f"<row_{r}_col_{c}>" for r in range(1, MAX_TILE_GRID + 1)
            for c in range(1, MAX_TILE_GRID + 1)])
ADDED = SPECIAL + OTSL_TAGS
PAD = "<|endoftext|>"
EOS = "<end_of_utterance>"
PROMPT_TABLE = "Convert table to OTSL."
PROMPT_READ = "Read the text."
DEFAULT_MERGES = 330  # 256 + 330 + 54 added = 640 ids


# --- prompt ----------------------------------------------------------------------------------

def chat_prompt(rows, cols, image_seq_len, instruction=PROMPT_TABLE):
    """The full prompt up to where the model starts writing (SmolDocling's chat template)."""
    return ("<|im_start|>User:" + image_prompt(rows, cols, image_seq_len) + instruction +
            EOS + "\nAssistant:")


# --- OTSL ------------------------------------------------------------------------------------

class Cell:
    """A table cell: top-left (r, c), span (rs, cs), text, kind in fcel/ched/rhed/srow."""
    __slots__ = ("r", "c", "rs", "cs", "text", "kind")

    def __init__(self, r, c, rs=1, cs=1, text="", kind="fcel"):
        self.r, self.c, self.rs, self.cs, self.text, self.kind = r, c, rs, cs, text, kind

    def tuple(self):
        return (self.r, self.c, self.rs, self.cs, self.text, self.kind)

    def __repr__(self):
        return f"Cell{self.tuple()}"


def to_otsl(n_rows, n_cols, cells):
    """cells (a partition of the grid into rectangles) -> OTSL string."""
    grid = [[None] * n_cols for _ in range(n_rows)]
    for cell in cells:
        text = " ".join(cell.text.split())
        tag = "<ecel>" if not text else f"<{cell.kind}>"
        for i in range(cell.rs):
            for j in range(cell.cs):
                assert grid[cell.r + i][cell.c + j] is None, "overlapping cells"
                if i == 0 and j == 0:
                    grid[cell.r][cell.c] = tag + text
                elif i == 0:
                    grid[cell.r][cell.c + j] = "<lcel>"
                elif j == 0:
                    grid[cell.r + i][cell.c] = "<ucel>"
                else:
                    grid[cell.r + i][cell.c + j] = "<xcel>"
    out = ["<otsl>"]
    for row in grid:
        assert all(x is not None for x in row), "grid not covered"
        out.extend(row)
        out.append("<nl>")
    out.append("</otsl>")
    return "".join(out)


_TAG_RE = re.compile("(" + "|".join(re.escape(t) for t in OTSL_TAGS) + ")")


def parse_otsl(s):
    """OTSL string -> (n_rows, n_cols, [Cell]). Tolerant of model output: text outside the
    <otsl> pair is ignored, ragged rows are padded with empty cells, a <lcel>/<ucel>/<xcel>
    with nothing to extend becomes an empty cell."""
    a = s.find("<otsl>")
    s = s[a + 6:] if a >= 0 else s
    b = s.find("</otsl>")
    s = s[:b] if b >= 0 else s
    rows, row = [], []
    tag = None
    for part in _TAG_RE.split(s):
        if part in OTSL_TAGS:
            if part == "<nl>":
                rows.append(row)
                row = []
            elif part in ("<otsl>", "</otsl>"):
                continue
            else:
                row.append([part, ""])
            tag = part
        elif row and tag not in (None, "<nl>"):
            row[-1][1] += part
    if row:
        rows.append(row)
    n_rows = len(rows)
    n_cols = max((len(r) for r in rows), default=0)
    owner = [[None] * n_cols for _ in range(n_rows)]
    cells = []
    for r, row in enumerate(rows):
        row = row + [["<ecel>", ""]] * (n_cols - len(row))
        for c, (t, text) in enumerate(row):
            cell = None
            if t == "<lcel>" and c > 0 and owner[r][c - 1] is not None:
                cell = owner[r][c - 1]
                if cell.r == r and cell.c + cell.cs == c:
                    cell.cs += 1
                else:
                    cell = None
            elif t == "<ucel>" and r > 0 and owner[r - 1][c] is not None:
                cell = owner[r - 1][c]
                if cell.c == c and cell.r + cell.rs == r:
                    cell.rs += 1
                else:
                    cell = None
            elif t == "<xcel>" and r > 0 and c > 0 and owner[r - 1][c] is not None:
                cell = owner[r - 1][c]
                if not (cell.r < r < cell.r + cell.rs and cell.c < c < cell.c + cell.cs):
                    cell = None
            if cell is None:
                kind = t[1:-1] if t in ANCHOR_TAGS else "ecel"
                cell = Cell(r, c, 1, 1, text.strip(), "fcel" if kind == "ecel" else kind)
                cells.append(cell)
            owner[r][c] = cell
    return n_rows, n_cols, cells


def grid_texts(n_rows, n_cols, cells):
    """Rows of texts with a merged cell's text at its top-left and '' where it covers
    (gentables' truth.jsonl convention)."""
    g = [[""] * n_cols for _ in range(n_rows)]
    for cell in cells:
        if cell.r < n_rows and cell.c < n_cols:
            g[cell.r][cell.c] = cell.text
    return g


# --- tokenizer -------------------------------------------------------------------------------

class FastBPE(bpe_ref.BPE):
    """bpe_ref.BPE with a word cache and a regex for the added tokens; same ids."""

    def __init__(self, vocab, merges, added):
        super().__init__(vocab, merges, added)
        alts = sorted(added, key=len, reverse=True)
        self._split = re.compile("(" + "|".join(re.escape(a) for a in alts) + ")")
        self._cache = {}

    def encode(self, text):
        ids = []
        for part in self._split.split(text):
            if not part:
                continue
            tid = self.added.get(part)
            if tid is not None:
                ids.append(tid)
                continue
            for w in bpe_ref.pretokenize(part):
                hit = self._cache.get(w)
                if hit is None:
                    hit = self.bpe(w)
                    if len(self._cache) < 200000:
                        self._cache[w] = hit
                ids.extend(hit)
        return ids

    def token_id(self, token):
        return self.added.get(token, self.vocab.get(token))

    def __len__(self):
        return max(self.inv) + 1


def training_corpus(n_tables=600, seed=1234):
    """Text the merges are learned from: synthetic cell texts, prompts, OTSL strings."""
    import synth
    lines = [PROMPT_TABLE, PROMPT_READ, "User:", "Assistant:"]
    for i in range(n_tables):
        t = synth.random_table(seed * 100003 + i)
        lines.extend(c.text for c in t.cells if c.text)
    return lines


def build_tokenizer(n_merges=DEFAULT_MERGES, seed=1234):
    vocab, merges = bpe_ref.train(training_corpus(seed=seed), n_merges)
    added = {t: len(vocab) + i for i, t in enumerate(ADDED)}
    return FastBPE(vocab, merges, added), bpe_ref.to_json(vocab, merges, added)


def save_tokenizer(tok_json, path):
    with open(path, "w") as f:
        json.dump(tok_json, f, ensure_ascii=False, indent=0)


def load_tokenizer(path):
    """tokenizer.json (as written by build_tokenizer / bpe_ref.to_json) -> FastBPE."""
    with open(path) as f:
        j = json.load(f)
    m = j["model"]
    merges = [tuple(x.split(" ")) if isinstance(x, str) else tuple(x) for x in m["merges"]]
    added = {a["content"]: a["id"] for a in j["added_tokens"]}
    return FastBPE(dict(m["vocab"]), merges, added)


def get_tokenizer(path, n_merges=DEFAULT_MERGES):
    """Loads `path`, building and writing it first (with n_merges merges) when it does not
    exist. n_merges = 0 gives character-level text: one token per byte of UTF-8."""
    if not os.path.exists(path):
        _, tj = build_tokenizer(n_merges)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        save_tokenizer(tj, path)
    return load_tokenizer(path)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="build tokenizer.json")
    ap.add_argument("--out", default="/tmp/quire-tokenizer.json")
    ap.add_argument("--merges", type=int, default=DEFAULT_MERGES)
    a = ap.parse_args()
    tok, tj = build_tokenizer(a.merges)
    save_tokenizer(tj, a.out)
    print(f"{a.out}: {len(tok)} ids, {len(tj['model']['merges'])} merges")
