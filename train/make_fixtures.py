"""
train/make_fixtures.py - writes tests/fixtures/tiny-idefics3/: a tiny random-weight Idefics3
model in Hugging Face layout plus the activations the C engine must reproduce.

Run with Debian's python3-torch:   /usr/bin/python3 train/make_fixtures.py
The C tests read only the files written here (no torch at test time). Deterministic (seeded).

Files:
  config.json, model.safetensors (F32), tokenizer.json     the model, as transformers lays it out
  expected.safetensors   pixel_values (1,3,32,32), vision_embeddings (16,32) (patch embedding +
                         position embedding), vision_encoder (16,32) (after post_layernorm),
                         connector (4,48), prompt_logits (T,300) (every prompt position),
                         tied_last_logits (300,) (last position with lm_head = embed_tokens),
                         f16_last_logits, bf16_last_logits (300,) (weights rounded to F16/BF16),
                         image_{tall,wide}_{rgb,frames,layout} (preprocessing through PIL)
  expected.json          prompt_ids, greedy_ids (16 tokens, no stop token), mean_logprob,
                         min_top2_gap, tokenizer cases [{text, ids}]

and tests/fixtures/tiny-reader/: a tiny random-weight line reader (llm/reader.c), written by
export.write_reader from a training module (model.Idefics3 with a CTC head), as
`export.py --reader` writes a checkpoint's:
  config.json, model.safetensors (F32)   encoder 2 x 32, image 64, patch 16 (2 bands of 4
                                         columns), ctc_steps 4, READER_CHARSET (20 strings)
  expected.safetensors   tile (64,64) U8, log_probs (2,16,21) (model.ctc_logits on the tile)
  expected.json          texts (greedy per band, data.decode_ctc's rule), confidence (mean
                         probability of the emitted characters), min_top2_gap
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe_ref  # noqa: E402
import idefics3_ref as ref  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "tiny-idefics3")

ADDED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<fake_token_around_image>", "<image>",
         "<global-img>", "<end_of_utterance>", "<row_1_col_1>", "<row_1_col_2>", "<row_2_col_1>",
         "<row_2_col_2>"]
VOCAB = 300

CORPUS = [
    "| Name | Value | Unit |", "|---|---|---|", "| alpha | 12.5 | kg |", "| beta | 3 | m |",
    "<table><tr><td>cell</td></tr></table>", "Convert the table to OTSL.", "The table has rows",
    "User: convert this page to docling.", "Assistant: <otsl><fcel>Total<nl></otsl>",
    "the quick brown fox jumps over the lazy dog", "rows and columns, headers and cells",
]

TOKENIZER_CASES = [
    "Hello world", "| a | b |\n|---|---|", "  leading and trailing  ", "12.5 kg, 3 m; 1000",
    "it's the table's row", "ünïcödé → ∑ 数字 ½", "<image><image>x<end_of_utterance>",
    "User:<fake_token_around_image><global-img><image><fake_token_around_image>Convert",
    "tabs\tand\r\nnewlines\n\n\n", "", " ", "'s 're 'x", "x\u00a0y\u2003 z\x1c\u0085end",
    "Ⅻ² ٣4 一", "<image", "<<image>>", "a  \n b", "!!! ... ---|", "don't", "😀 emoji",
]


def tokenizer():
    n_merges = VOCAB - 256 - len(ADDED)
    vocab, merges = bpe_ref.train(CORPUS, n_merges)
    assert len(vocab) == VOCAB - len(ADDED), len(vocab)
    added = {t: len(vocab) + i for i, t in enumerate(ADDED)}
    return bpe_ref.BPE(vocab, merges, added), bpe_ref.to_json(vocab, merges, added), added


WORDS = ("total revenue cost profit margin year quarter region north south east west units price "
         "amount percent change growth table row column header cell value name date sample mean "
         "median deviation error count sum average rate density weight height length width "
         "don't it's we're they've I'm you'll she'd über café naïve 東京 données").split()


def big_corpus():
    """Deterministic table-like text for a 1k-merge tokenizer (more merges exercise the
    pre-tokenizer boundaries far more than the tiny model's 33)."""
    lines = list(CORPUS) + list(TOKENIZER_CASES)
    for i in range(400):
        a, b, c = WORDS[i % len(WORDS)], WORDS[(i * 7) % len(WORDS)], WORDS[(i * 13) % len(WORDS)]
        lines.append(f"| {a} | {(i * 37) % 1000}.{i % 10} | {b} {c} |  {i}%")
        lines.append(f"{a.capitalize()} {b}'s {c}: {i * 3} -- ({a}, {b})\n")
    return lines


def write_big_tokenizer():
    out = os.path.join(OUT, "..", "bpe-1k")
    os.makedirs(out, exist_ok=True)
    vocab, merges = bpe_ref.train(big_corpus(), 1000)
    added = {t: len(vocab) + i for i, t in enumerate(ADDED)}
    bpe = bpe_ref.BPE(vocab, merges, added)
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(bpe_ref.to_json(vocab, merges, added), f, ensure_ascii=False)
    texts = TOKENIZER_CASES + [
        "| total revenue | 1234.5 | north |\n| cost | 99 | south-east |",
        "Revenue's growth: we're up 12% (don't panic) -- über café naïve 東京",
        "  Row\t\tcolumn  \n\n  header<row_1_col_2>cell<fake_token_around_image>",
        big_corpus()[40] + big_corpus()[41]]
    cases = []
    for text in texts:
        ids = bpe.encode(text)
        assert bpe.decode(ids) == text, text
        cases.append({"text": text, "ids": ids})
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"tokenizer_cases": cases}, f, indent=0, ensure_ascii=False)
    print(f"bpe-1k: {len(vocab) + len(added)} ids, {len(merges)} merges")


def preprocess_cases(c):
    """Two small RGB images run through the Idefics3ImageProcessor steps (PIL Lanczos):
    tall 29x45 with splitting (longest edge 80 -> 3 x 2 tiles + global), wide 20x12 without."""
    from PIL import Image
    out = {}
    for name, (w, h, longest, split) in {"tall": (29, 45, 80, True),
                                         "wide": (20, 12, 64, False)}.items():
        gen = torch.Generator().manual_seed(w * h)
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        rgb = torch.stack([(xs * 255 // w), (ys * 255 // h), (xs * ys) % 256], -1)
        rgb = (rgb + torch.randint(0, 60, (h, w, 3), generator=gen)).clamp(0, 255).to(torch.uint8)
        img = Image.frombytes("RGB", (w, h), rgb.numpy().tobytes())
        frames, rows, cols = ref.preprocess(img, longest, c.image_size, split)
        out[f"image_{name}_rgb"] = rgb
        out[f"image_{name}_frames"] = frames
        out[f"image_{name}_layout"] = torch.tensor([rows, cols, longest, int(split)],
                                                   dtype=torch.uint8)
    return out


def config(added):
    return {
        "architectures": ["Idefics3ForConditionalGeneration"],
        "model_type": "idefics3",
        "image_token_id": added["<image>"],
        "scale_factor": 2,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "vision_config": {"model_type": "idefics3_vision", "hidden_size": 32,
                          "intermediate_size": 64, "num_hidden_layers": 2,
                          "num_attention_heads": 4, "image_size": 32, "patch_size": 8,
                          "num_channels": 3, "layer_norm_eps": 1e-6,
                          "hidden_act": "gelu_pytorch_tanh"},
        "text_config": {"model_type": "llama", "hidden_size": 48, "intermediate_size": 96,
                        "num_hidden_layers": 2, "num_attention_heads": 4,
                        "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
                        "vocab_size": VOCAB, "tie_word_embeddings": False,
                        "max_position_embeddings": 128, "hidden_act": "silu"},
    }


def weights(c, gen):
    def rnd(*shape, std=0.2):
        return torch.randn(*shape, generator=gen) * std

    def ln(n):
        return 1.0 + rnd(n, std=0.1), rnd(n, std=0.1)

    w = {}
    p = "model.vision_model."
    w[p + "embeddings.patch_embedding.weight"] = rnd(c.v_dim, c.channels, c.patch, c.patch)
    w[p + "embeddings.patch_embedding.bias"] = rnd(c.v_dim)
    side = c.image_size // c.patch
    w[p + "embeddings.position_embedding.weight"] = rnd(side * side, c.v_dim, std=0.5)
    for i in range(c.v_layers):
        q = f"{p}encoder.layers.{i}."
        w[q + "layer_norm1.weight"], w[q + "layer_norm1.bias"] = ln(c.v_dim)
        w[q + "layer_norm2.weight"], w[q + "layer_norm2.bias"] = ln(c.v_dim)
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            w[q + f"self_attn.{name}.weight"] = rnd(c.v_dim, c.v_dim)
            w[q + f"self_attn.{name}.bias"] = rnd(c.v_dim, std=0.1)
        w[q + "mlp.fc1.weight"] = rnd(c.v_hidden, c.v_dim)
        w[q + "mlp.fc1.bias"] = rnd(c.v_hidden, std=0.1)
        w[q + "mlp.fc2.weight"] = rnd(c.v_dim, c.v_hidden)
        w[q + "mlp.fc2.bias"] = rnd(c.v_dim, std=0.1)
    w[p + "post_layernorm.weight"], w[p + "post_layernorm.bias"] = ln(c.v_dim)
    w["model.connector.modality_projection.proj.weight"] = rnd(c.dim, c.v_dim * c.scale ** 2)
    t = "model.text_model."
    hd = c.dim // c.heads
    w[t + "embed_tokens.weight"] = rnd(c.vocab, c.dim, std=1.0)
    for i in range(c.layers):
        q = f"{t}layers.{i}."
        w[q + "input_layernorm.weight"] = 1.0 + rnd(c.dim, std=0.1)
        w[q + "post_attention_layernorm.weight"] = 1.0 + rnd(c.dim, std=0.1)
        w[q + "self_attn.q_proj.weight"] = rnd(c.heads * hd, c.dim)
        w[q + "self_attn.k_proj.weight"] = rnd(c.kv_heads * hd, c.dim)
        w[q + "self_attn.v_proj.weight"] = rnd(c.kv_heads * hd, c.dim)
        w[q + "self_attn.o_proj.weight"] = rnd(c.dim, c.heads * hd)
        w[q + "mlp.gate_proj.weight"] = rnd(c.hidden, c.dim)
        w[q + "mlp.up_proj.weight"] = rnd(c.hidden, c.dim)
        w[q + "mlp.down_proj.weight"] = rnd(c.dim, c.hidden)
    w[t + "norm.weight"] = 1.0 + rnd(c.dim, std=0.1)
    w["lm_head.weight"] = rnd(c.vocab, c.dim, std=0.5)
    return w


def main():
    os.makedirs(OUT, exist_ok=True)
    bpe, tok_json, added = tokenizer()
    cfg = config(added)
    c = ref.Config(cfg)
    prompt_text = ("<|im_start|>User:<fake_token_around_image><global-img>" +
                   "<image>" * c.image_seq_len +
                   "<fake_token_around_image>Convert this table to OTSL.<end_of_utterance>\n"
                   "Assistant:")
    prompt = bpe.encode(prompt_text)
    assert prompt.count(c.image_token_id) == c.image_seq_len
    for seed in range(100):
        gen = torch.Generator().manual_seed(seed)
        w = weights(c, gen)
        pixels = torch.rand(1, c.channels, c.image_size, c.image_size, generator=gen) * 2 - 1
        with torch.no_grad():
            feats, emb, enc = ref.image_features(w, c, pixels)
            logits = ref.text_forward(w, c, prompt, feats)
            tied = ref.text_forward(w, c, prompt, feats, lm_head_tied=True)[-1]
            ids, mean_lp, gap = ref.greedy(w, c, prompt, feats, 16)
        if gap > 1e-2 and len(set(ids)) > 4:
            break
    print(f"seed {seed}: greedy {ids} mean_logprob {mean_lp:.5f} min gap {gap:.4f}")

    ref.write_safetensors(os.path.join(OUT, "model.safetensors"), w)
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(OUT, "tokenizer.json"), "w") as f:
        json.dump(tok_json, f, indent=1, ensure_ascii=False)
    images = preprocess_cases(c)
    # the same model with every weight rounded to F16 / BF16 (the C test writes such files)
    for name, dt in (("f16", torch.float16), ("bf16", torch.bfloat16)):
        wr = {k: v.to(dt).float() for k, v in w.items()}
        with torch.no_grad():
            fr, _, _ = ref.image_features(wr, c, pixels)
            images[f"{name}_last_logits"] = ref.text_forward(wr, c, prompt, fr)[-1]
    ref.write_safetensors(os.path.join(OUT, "expected.safetensors"), {
        "pixel_values": pixels, "vision_embeddings": emb[0], "vision_encoder": enc[0],
        "connector": feats, "prompt_logits": logits, "tied_last_logits": tied, **images})
    cases = []
    for text in TOKENIZER_CASES:
        ids_t = bpe.encode(text)
        assert bpe.decode(ids_t) == text, text
        cases.append({"text": text, "ids": ids_t})
    write_big_tokenizer()
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"prompt_text": prompt_text, "prompt_ids": prompt, "greedy_ids": ids,
                   "mean_logprob": mean_lp, "min_top2_gap": gap, "seed": seed,
                   "tokenizer_cases": cases}, f, indent=1, ensure_ascii=False)


READER_OUT = os.path.join(os.path.dirname(OUT), "tiny-reader")
# multi-byte characters and a two-character string: the reader concatenates whole strings
READER_CHARSET = [" ", "a", "b", "c", "d", "e", "1", "2", "3", ".", ",", "-", "é", "±", "€", "ß",
                  "Δ", "✓", "th", "—"]


def reader_module(seed):
    """A tiny Idefics3 training module with a CTC head and seeded random weights, large enough
    that the greedy path emits characters (the module's own init is near zero)."""
    from model import Idefics3
    cfg = {"vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                             "num_attention_heads": 2, "image_size": 64, "patch_size": 16,
                             "layer_norm_eps": 1e-6, "model_type": "idefics3_vision",
                             "hidden_act": "gelu_pytorch_tanh"},
           "text_config": {"hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
                           "num_attention_heads": 2, "num_key_value_heads": 1,
                           "vocab_size": 16},
           "scale_factor": 2, "image_token_id": 1}
    m = Idefics3(cfg, ctc_classes=len(READER_CHARSET) + 1, ctc_steps=4)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(m.named_parameters()):
            r = torch.randn(p.shape, generator=gen)
            if "norm" in name:
                p.copy_(1.0 + 0.1 * r if name.endswith("weight") else 0.1 * r)
            elif name.startswith("ctc_head."):
                p.copy_(r * (0.5 if name.endswith("weight") else 1.0))
            elif "position_embedding" in name:
                p.copy_(0.5 * r)
            else:
                p.copy_(0.2 * r)
        m.ctc_head.bias.view(m.ctc_steps, -1)[:, 0] += 2.0  # some blanks on the path
    return m.eval()


def write_reader_fixture():
    import data
    import export
    for seed in range(100):
        m = reader_module(seed)
        gen = torch.Generator().manual_seed(1000 + seed)
        tile = torch.randint(0, 256, (64, 64), generator=gen, dtype=torch.uint8)
        with torch.no_grad():
            lp = m.ctc_logits(data.normalize(tile[None]))[0]  # (bands, T, classes)
        top2 = lp.topk(2, -1).values
        gap = float((top2[..., 0] - top2[..., 1]).min())
        texts, conf = [], []
        for band in lp:
            best = band.argmax(-1).tolist()
            text, probs, prev = "", [], 0
            for t, k in enumerate(best):
                if k != prev and k != 0:
                    text += READER_CHARSET[k - 1]
                    probs.append(float(band[t, k].exp()))
                prev = k
            texts.append(text)
            conf.append(sum(probs) / len(probs) if probs else 1.0)
        merged = any(a == b != 0 for band in lp for a, b in zip(band.argmax(-1).tolist(),
                                                                band.argmax(-1).tolist()[1:]))
        multibyte = any(len(t.encode()) > len(t) for t in texts)
        blanks = int((lp.argmax(-1) == 0).sum())
        if (gap > 1e-2 and all(len(t) >= 3 for t in texts) and multibyte and merged and
                blanks >= 4):
            break
    print(f"tiny-reader: seed {seed}: {texts} confidence {conf} min gap {gap:.4f}")
    export.write_reader(m, READER_CHARSET, 9.0, READER_OUT, {"fixture": "random weights",
                                                             "seed": seed})
    ref.write_safetensors(os.path.join(READER_OUT, "expected.safetensors"),
                          {"tile": tile, "log_probs": lp})
    with open(os.path.join(READER_OUT, "expected.json"), "w") as f:
        json.dump({"texts": texts, "confidence": conf, "min_top2_gap": gap, "seed": seed}, f,
                  indent=1, ensure_ascii=False)


if __name__ == "__main__":
    if sys.argv[1:] == ["--reader"]:
        write_reader_fixture()
    else:
        main()
        write_reader_fixture()
