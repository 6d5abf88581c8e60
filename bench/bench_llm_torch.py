"""
bench/bench_llm_torch.py - the PyTorch side of bench/bench_llm.c: the same table case (one
512 x 512 image, the same prompt ids, the same number of greedy tokens) through
train/idefics3_ref.py on the CPU, with the same number of threads.

bench_llm writes the model directory (config.json, model.safetensors) plus image.u8 (the 8-bit
RGB image, 512 x 512 x 3) and prompt.txt (the prompt ids), runs this script with
/usr/bin/python3 (which has torch) and reads its `name: value` lines:
  torch_seconds_per_table  preprocess (PIL Lanczos, as the reference does) + image features +
                           prefill + the new tokens, best of --reps (wall clock)
  torch_cpu_seconds_per_table  the same in process CPU time
  torch_peak_rss_mb        this process's peak resident set
  torch_tokens             the generated ids (bench_llm compares them with its own)

The reference's own greedy() recomputes the whole sequence at every step (on purpose: it checks
the C KV cache independently); timing that would flatter C. So the text side here is the
reference's math (its rms_norm, attention layout, RoPE formula, SwiGLU) with a KV cache, as a
PyTorch user would run it. Vision and connector are the reference's functions as they are.
"""
import argparse
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
import idefics3_ref as ref  # noqa: E402


class TextModel:
    """The Llama decoder of the reference, fed in chunks with a KV cache."""

    def __init__(self, w, c, max_tokens):
        self.w, self.c = w, c
        self.hd = c.dim // c.heads
        inv = 1.0 / (c.rope_theta ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        freqs = torch.outer(torch.arange(max_tokens, dtype=torch.float32), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()
        shape = (c.layers, c.kv_heads, max_tokens, self.hd)
        self.k_cache, self.v_cache = torch.zeros(shape), torch.zeros(shape)
        tied = c.tie
        self.head = w["model.text_model.embed_tokens.weight"] if tied else w["lm_head.weight"]

    def rope(self, x, pos):
        T, half = x.shape[-2], x.shape[-1] // 2
        cos, sin = self.cos[pos:pos + T], self.sin[pos:pos + T]
        rot = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rot * sin

    def forward(self, x, pos):
        """x (T, dim) embeddings at positions pos..pos+T-1 -> the last position's logits."""
        w, c, hd = self.w, self.c, self.hd
        T = x.shape[0]
        x = x[None]
        rep = c.heads // c.kv_heads
        mask = None
        if T > 1:
            mask = torch.ones(T, pos + T, dtype=torch.bool).tril(diagonal=pos)
        for i in range(c.layers):
            p = f"model.text_model.layers.{i}."
            a = p + "self_attn."
            h = ref.rms_norm(x, w[p + "input_layernorm.weight"], c.eps)
            q = F.linear(h, w[a + "q_proj.weight"]).view(1, T, c.heads, hd).transpose(1, 2)
            k = F.linear(h, w[a + "k_proj.weight"]).view(1, T, c.kv_heads, hd).transpose(1, 2)
            v = F.linear(h, w[a + "v_proj.weight"]).view(1, T, c.kv_heads, hd).transpose(1, 2)
            q, k = self.rope(q, pos), self.rope(k, pos)
            self.k_cache[i, :, pos:pos + T] = k[0]
            self.v_cache[i, :, pos:pos + T] = v[0]
            keys = self.k_cache[i, :, :pos + T].repeat_interleave(rep, dim=0)[None]
            values = self.v_cache[i, :, :pos + T].repeat_interleave(rep, dim=0)[None]
            s = q @ keys.transpose(-1, -2) / math.sqrt(hd)
            if mask is not None:
                s = s.masked_fill(~mask, float("-inf"))
            o = (torch.softmax(s, dim=-1) @ values).transpose(1, 2).reshape(1, T, c.heads * hd)
            x = x + F.linear(o, w[a + "o_proj.weight"])
            h = ref.rms_norm(x, w[p + "post_attention_layernorm.weight"], c.eps)
            m = p + "mlp."
            g = F.silu(F.linear(h, w[m + "gate_proj.weight"]))
            g = g * F.linear(h, w[m + "up_proj.weight"])
            x = x + F.linear(g, w[m + "down_proj.weight"])
        last = ref.rms_norm(x[0, -1], w["model.text_model.norm.weight"], c.eps)
        return F.linear(last, self.head)


def preprocess(rgb, c):
    """ref.preprocess for a square image without splitting (Lanczos to longest_edge, then to
    image_size: both no-ops in size here, done anyway), with the pixels converted through numpy
    rather than the reference's list(getdata()), as a PyTorch user would."""
    import numpy as np
    from PIL import Image
    img = Image.frombytes("RGB", (c.image_size, c.image_size), rgb)
    img = img.resize((c.image_size, c.image_size), Image.LANCZOS)
    img = img.resize((c.image_size, c.image_size), Image.LANCZOS)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32)) * (1 / 255)
    return ((x - 0.5) / 0.5).permute(2, 0, 1)[None].contiguous()


def table(w, c, rgb, prompt, new_tokens):
    frames = preprocess(rgb, c)
    feats, _, _ = ref.image_features(w, c, frames)
    ids = torch.tensor(prompt)
    x = w["model.text_model.embed_tokens.weight"][ids].clone()
    x[ids == c.image_token_id] = feats
    text = TextModel(w, c, len(prompt) + new_tokens)
    logits = text.forward(x, 0)
    out, pos = [], len(prompt)
    for i in range(new_tokens):
        tok = int(torch.argmax(logits))
        out.append(tok)
        if i + 1 == new_tokens:
            break
        logits = text.forward(w["model.text_model.embed_tokens.weight"][tok][None], pos)
        pos += 1
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--new-tokens", type=int, default=200)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    w, c = ref.load(args.model)
    with open(os.path.join(args.model, "image.u8"), "rb") as f:
        rgb = f.read()
    with open(os.path.join(args.model, "prompt.txt")) as f:
        prompt = [int(t) for t in f.read().split()]
    best, best_cpu, out = float("inf"), float("inf"), []
    with torch.inference_mode():
        for _ in range(max(1, args.reps)):
            t0, c0 = time.perf_counter(), time.process_time()
            out = table(w, c, rgb, prompt, args.new_tokens)
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
    print(f"torch_threads: {torch.get_num_threads()}")
    print(f"torch_seconds_per_table: {best:.3f}")
    print(f"torch_cpu_seconds_per_table: {best_cpu:.3f}")
    print(f"torch_peak_rss_mb: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
    print("torch_tokens: " + " ".join(str(t) for t in out))


if __name__ == "__main__":
    main()
