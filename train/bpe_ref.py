"""
train/bpe_ref.py - a small byte-level BPE (GPT-2 / SmolLM2 style) in plain Python: train,
write tokenizer.json in the Hugging Face `tokenizers` layout, encode, decode.

Why: the C tokenizer (llm/tokenizer.c) is checked against this on the fixture's tokenizer.json;
the `tokenizers` package is not needed. Pre-tokenization as SmolLM2's tokenizer.json declares it:
Sequence[Digits(individual_digits=true), ByteLevel(add_prefix_space=false, use_regex=true)],
where ByteLevel's regex is GPT-2's
  's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
Added tokens are matched first (longest match) and kept whole.
"""
import json
import unicodedata


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()
U2B = {u: b for b, u in B2U.items()}


def is_letter(ch):
    return unicodedata.category(ch).startswith("L")


def is_number(ch):
    return unicodedata.category(ch).startswith("N")


# Unicode White_Space, what \s means in the Rust regex engine (str.isspace() differs on a few).
WHITE_SPACE = set(range(0x9, 0xE)) | {0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F,
                                       0x3000} | set(range(0x2000, 0x200B))


def is_space(ch):
    return ord(ch) in WHITE_SPACE


def is_other(ch):
    return not (is_space(ch) or is_letter(ch) or is_number(ch))


def gpt2_split(s):
    """The GPT-2 regex above, as a hand-written scanner (Python's re lacks \\p{L})."""
    out, i, n = [], 0, len(s)
    while i < n:
        if s[i] == "'":
            hit = None
            for c in ("s", "t", "re", "ve", "m", "ll", "d"):
                if s.startswith(c, i + 1):
                    hit = c
                    break
            if hit:
                out.append(s[i:i + 1 + len(hit)])
                i += 1 + len(hit)
                continue
        matched = False
        for cls in (is_letter, is_number, is_other):
            j = i + 1 if (s[i] == " " and i + 1 < n) else i
            if cls(s[j]):
                k = j
                while k < n and cls(s[k]):
                    k += 1
                out.append(s[i:k])
                i = k
                matched = True
                break
        if matched:
            continue
        # whitespace: \s+(?!\S) then \s+
        k = i
        while k < n and is_space(s[k]):
            k += 1
        if k < n and k - i > 1:
            k -= 1  # leave the last space to prefix the next word
        out.append(s[i:k])
        i = k
    return out


def split_digits(s):
    out, cur = [], ""
    for ch in s:
        if is_number(ch):  # Rust's char::is_numeric: categories Nd, Nl, No
            if cur:
                out.append(cur)
                cur = ""
            out.append(ch)
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def pretokenize(s, individual_digits=True):
    pieces = split_digits(s) if individual_digits else [s]
    words = []
    for p in pieces:
        for w in gpt2_split(p):
            words.append("".join(B2U[b] for b in w.encode("utf-8")))
    return words


class BPE:
    def __init__(self, vocab, merges, added):
        self.vocab = vocab                      # str -> id
        self.inv = {i: t for t, i in vocab.items()}
        self.ranks = {tuple(m): r for r, m in enumerate(merges)}
        self.added = added                      # content -> id
        for t, i in added.items():
            self.inv[i] = t

    def bpe(self, word):
        syms = list(word)
        while len(syms) > 1:
            best, bi = None, -1
            for k in range(len(syms) - 1):
                r = self.ranks.get((syms[k], syms[k + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, k
            if best is None:
                break
            a, b = syms[bi], syms[bi + 1]
            merged, k = [], 0
            while k < len(syms):
                if k < len(syms) - 1 and syms[k] == a and syms[k + 1] == b:
                    merged.append(a + b)
                    k += 2
                else:
                    merged.append(syms[k])
                    k += 1
            syms = merged
        return [self.vocab[t] for t in syms]

    def encode(self, text):
        ids, i, start = [], 0, 0
        added = sorted(self.added, key=len, reverse=True)
        while i <= len(text):
            hit = None
            if i < len(text):
                for a in added:
                    if text.startswith(a, i):
                        hit = a
                        break
            if hit is None and i < len(text):
                i += 1
                continue
            for w in pretokenize(text[start:i]):
                ids.extend(self.bpe(w))
            if hit is None:
                break
            ids.append(self.added[hit])
            i += len(hit)
            start = i
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            t = self.inv[i]
            if t in self.added:
                out += t.encode("utf-8")
            else:
                out += bytes(U2B[ch] for ch in t)
        return out.decode("utf-8", errors="replace")


def train(corpus, n_merges):
    counts = {}
    for line in corpus:
        for w in pretokenize(line):
            counts[w] = counts.get(w, 0) + 1
    words = {w: list(w) for w in counts}
    merges = []
    for _ in range(n_merges):
        pairs = {}
        for w, syms in words.items():
            for a, b in zip(syms, syms[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + counts[w]
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        for w, syms in words.items():
            out, k = [], 0
            while k < len(syms):
                if k < len(syms) - 1 and (syms[k], syms[k + 1]) == best:
                    out.append(syms[k] + syms[k + 1])
                    k += 2
                else:
                    out.append(syms[k])
                    k += 1
            words[w] = out
    vocab = {B2U[b]: b for b in range(256)}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return vocab, merges


def to_json(vocab, merges, added):
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for t, i in sorted(added.items(), key=lambda x: x[1])],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": True}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
