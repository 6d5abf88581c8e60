"""
train/idefics3_ref.py - a plain PyTorch reference of the Idefics3 family (SmolVLM,
SmolDocling-256M, granite-docling), written from the model description, CPU only, float32.

Why: llm/ (the C engine) is checked against activations computed here. This file does not import
transformers; it uses transformers' tensor names and config.json keys so that it (and the C
engine) can read a real Hugging Face checkpoint directory.

Pipeline (one image of image_size x image_size, already rescaled and normalized, CHW):
  vision embeddings: Conv2d(patch, stride patch) -> (n_patches, vdim) + position_embedding
  vision encoder:    pre-LN blocks: x += attn(ln1(x)); x += fc2(gelu_tanh(fc1(ln2(x))))
                     then post_layernorm
  connector:         pixel_shuffle (scale_factor) -> (n_patches / s^2, vdim * s^2) -> proj (no bias)
  text model:        Llama: embed tokens, the rows at image_token_id positions are replaced by the
                     connector rows in order; RMSNorm, GQA attention with RoPE (rotate_half
                     layout), SwiGLU MLP; final norm; lm_head (or embed_tokens when tied)
Greedy decoding recomputes the whole sequence at each step (no KV cache), so that the C KV cache
is checked against an independent computation.
"""
import json
import math
import struct

import torch
import torch.nn.functional as F

# --- safetensors ---------------------------------------------------------------------------

DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2),
          "U8": (torch.uint8, 1)}


def read_safetensors(path):
    """Returns {name: float32 tensor}. Accepts F32, F16 and BF16."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, _ = DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(blob[base + begin:base + end]), dtype=dtype)
        out[name] = t.reshape(info["shape"]).float()
    return out


def write_safetensors(path, tensors, dtype="F32"):
    """Writes {name: tensor} (converted to `dtype`, uint8 tensors kept as U8) with the header
    padded to 8 bytes. U8 tensors go last so that every float tensor stays 4-byte aligned."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors, key=lambda n: (tensors[n].dtype == torch.uint8, n)):
        t = tensors[name].detach()
        dt = "U8" if t.dtype == torch.uint8 else dtype
        t = t.to(DTYPES[dt][0]).contiguous()
        raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": dt, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


# --- image preprocessing (Idefics3ImageProcessor) --------------------------------------------

def _rescale_to_max_len(height, width, max_len, min_len=1):
    aspect_ratio = width / height
    if width >= height:
        width = max_len
        height = int(width / aspect_ratio)
        if height % 2 != 0:
            height += 1
    elif height > width:
        height = max_len
        width = int(height * aspect_ratio)
        if width % 2 != 0:
            width += 1
    return max(height, min_len), max(width, min_len)


def _scale_below_upper_bound(height, width, max_len=4096):
    aspect_ratio = width / height
    if width >= height and width > max_len:
        width = max_len
        height = int(width / aspect_ratio)
    elif height > width and height > max_len:
        height = max_len
        width = int(height * aspect_ratio)
    return max(height, 1), max(width, 1)


def preprocess(img, longest_edge, max_image_size, split, mean=(0.5,) * 3, std=(0.5,) * 3):
    """PIL RGB image -> (frames (N, 3, S, S) float32, rows, cols), as Idefics3ImageProcessor
    does it with resample=LANCZOS: resize to longest_edge, then (split) resize both sides up to
    multiples of max_image_size and cut tiles, plus the whole image squashed to S x S last."""
    from PIL import Image
    w, h = img.size
    h, w = _rescale_to_max_len(h, w, longest_edge)
    h, w = _scale_below_upper_bound(h, w)
    img = img.resize((w, h), Image.LANCZOS)
    S = max_image_size
    frames, rows, cols = [], 0, 0
    if split:
        aspect_ratio = w / h
        if w >= h:
            w = math.ceil(w / S) * S
            h = int(w / aspect_ratio)
            h = math.ceil(h / S) * S
        else:
            h = math.ceil(h / S) * S
            w = int(h * aspect_ratio)
            w = math.ceil(w / S) * S
        img = img.resize((w, h), Image.LANCZOS)
        if h > S or w > S:
            rows, cols = math.ceil(h / S), math.ceil(w / S)
            oh, ow = math.ceil(h / rows), math.ceil(w / cols)
            for r in range(rows):
                for c in range(cols):
                    frames.append(img.crop((c * ow, r * oh, min(c * ow + ow, w),
                                            min(r * oh + oh, h))))
            img = img.resize((S, S), Image.LANCZOS)
    else:
        img = img.resize((S, S), Image.LANCZOS)
    frames.append(img)
    out = []
    for f in frames:
        x = torch.tensor(list(f.getdata()), dtype=torch.float64).reshape(S, S, 3) * (1 / 255)
        x = (x.float() - torch.tensor(mean)) / torch.tensor(std)
        out.append(x.permute(2, 0, 1))
    return torch.stack(out), rows, cols


def image_prompt(rows, cols, image_seq_len):
    """The text Idefics3Processor puts in place of one <image>."""
    seq = "<image>" * image_seq_len
    if rows == 0 and cols == 0:
        return "<fake_token_around_image><global-img>" + seq + "<fake_token_around_image>"
    text = ""
    for r in range(rows):
        for c in range(cols):
            text += f"<fake_token_around_image><row_{r + 1}_col_{c + 1}>" + seq
        text += "\n"
    return text + "\n<fake_token_around_image><global-img>" + seq + "<fake_token_around_image>"


# --- config --------------------------------------------------------------------------------

class Config:
    """The keys the engine uses, with Idefics3Config / LlamaConfig defaults for missing ones."""

    def __init__(self, d):
        v, t = d.get("vision_config", {}), d.get("text_config", {})
        self.v_dim = v.get("hidden_size", 1152)
        self.v_hidden = v.get("intermediate_size", 3072)
        self.v_layers = v.get("num_hidden_layers", 12)
        self.v_heads = v.get("num_attention_heads", 16)
        self.image_size = v.get("image_size", 224)
        self.patch = v.get("patch_size", 32)
        self.channels = v.get("num_channels", 3)
        self.v_eps = v.get("layer_norm_eps", 1e-6)
        self.dim = t.get("hidden_size", 4096)
        self.hidden = t.get("intermediate_size", 11008)
        self.layers = t.get("num_hidden_layers", 32)
        self.heads = t.get("num_attention_heads", 32)
        self.kv_heads = t.get("num_key_value_heads", self.heads)
        self.eps = t.get("rms_norm_eps", 1e-6)
        self.rope_theta = t.get("rope_theta", 10000.0)
        rope = t.get("rope_parameters") or {}          # transformers 5 writes it here
        self.rope_theta = rope.get("rope_theta", self.rope_theta)
        if rope.get("rope_type", "default") != "default":
            raise ValueError("text_config.rope_parameters.rope_type: only 'default' is supported")
        if t.get("model_type", "llama") != "llama":
            raise ValueError("text_config.model_type: only 'llama' is supported")
        self.vocab = t.get("vocab_size", 32000)
        self.tie = t.get("tie_word_embeddings", d.get("tie_word_embeddings", False))
        self.scale = d.get("scale_factor", 2)
        self.image_token_id = d.get("image_token_id", 128257)
        side = self.image_size // self.patch
        self.image_seq_len = side * side // (self.scale * self.scale)


# --- vision --------------------------------------------------------------------------------

def vision_embeddings(w, c, pixels):
    """pixels (B, C, H, W) -> (B, n_patches, v_dim), position embeddings added.
    Position ids as Idefics3VisionEmbeddings computes them for a full (unmasked) image, which
    is all quire and the Idefics3 processor give it (every tile is image_size square): patch i
    gets position i. transformers <= 4.54 bucketized arange(0, 1 - 1e-6, 1/n), which is the
    identity for the 32-patch grids of SmolVLM / SmolDocling / granite-docling but not for
    every grid (27: a repeated 9); 4.55 computed i / n * (1 - 1e-6) (shifted by one,
    transformers#41190); #41374 and 5.x clamp i * (1/n), the identity. This follows 5.x, as
    the C engine does (llm/vision.c)."""
    p = "model.vision_model.embeddings."
    x = F.conv2d(pixels, w[p + "patch_embedding.weight"], w[p + "patch_embedding.bias"],
                 stride=c.patch)
    B, _, nh, nw = x.shape
    x = x.flatten(2).transpose(1, 2)
    side = c.image_size // c.patch
    assert nh == side and nw == side, "full image_size images only"
    pos_ids = torch.arange(nh * nw)
    return x + w[p + "position_embedding.weight"][pos_ids]


def attention(x, wq, bq, wk, bk, wv, bv, wo, bo, n_heads, n_kv_heads, mask=None, rope=None):
    B, T, _ = x.shape
    q = F.linear(x, wq, bq)
    k = F.linear(x, wk, bk)
    v = F.linear(x, wv, bv)
    hd = q.shape[-1] // n_heads
    q = q.view(B, T, n_heads, hd).transpose(1, 2)
    k = k.view(B, T, n_kv_heads, hd).transpose(1, 2)
    v = v.view(B, T, n_kv_heads, hd).transpose(1, 2)
    if rope is not None:
        q, k = rope(q), rope(k)
    rep = n_heads // n_kv_heads
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    s = q @ k.transpose(-1, -2) / math.sqrt(hd)
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    o = torch.softmax(s, dim=-1) @ v
    o = o.transpose(1, 2).reshape(B, T, n_heads * hd)
    return F.linear(o, wo, bo)


def vision_encoder(w, c, emb):
    """(B, n, v_dim) embeddings -> (B, n, v_dim) after the blocks and post_layernorm."""
    x = emb
    for i in range(c.v_layers):
        p = f"model.vision_model.encoder.layers.{i}."
        h = F.layer_norm(x, (c.v_dim,), w[p + "layer_norm1.weight"], w[p + "layer_norm1.bias"],
                         c.v_eps)
        a = p + "self_attn."
        x = x + attention(h, w[a + "q_proj.weight"], w[a + "q_proj.bias"],
                          w[a + "k_proj.weight"], w[a + "k_proj.bias"],
                          w[a + "v_proj.weight"], w[a + "v_proj.bias"],
                          w[a + "out_proj.weight"], w[a + "out_proj.bias"], c.v_heads, c.v_heads)
        h = F.layer_norm(x, (c.v_dim,), w[p + "layer_norm2.weight"], w[p + "layer_norm2.bias"],
                         c.v_eps)
        h = F.linear(h, w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"])
        h = F.gelu(h, approximate="tanh")
        x = x + F.linear(h, w[p + "mlp.fc2.weight"], w[p + "mlp.fc2.bias"])
    p = "model.vision_model.post_layernorm."
    return F.layer_norm(x, (c.v_dim,), w[p + "weight"], w[p + "bias"], c.v_eps)


def pixel_shuffle(x, scale_factor):
    """Exactly the reshapes/permutes of Idefics3Connector.pixel_shuffle.
    Output token (r, c) of the (side/s, side/s) grid holds, in feature order, the patches
    (r*s + i, c*s + j) for i (outer) then j, each patch's v_dim features contiguous."""
    bsz, seq, embed_dim = x.size()
    height = width = int(seq ** 0.5)
    x = x.view(bsz, height, width, embed_dim)
    x = x.view(bsz, height, int(width / scale_factor), embed_dim * scale_factor)
    x = x.permute(0, 2, 1, 3)
    x = x.reshape(bsz, int(width / scale_factor), int(height / scale_factor),
                  embed_dim * (scale_factor ** 2))
    x = x.permute(0, 2, 1, 3)
    x = x.reshape(bsz, int(seq / (scale_factor ** 2)), embed_dim * (scale_factor ** 2))
    return x


def connector(w, c, enc):
    return F.linear(pixel_shuffle(enc, c.scale), w["model.connector.modality_projection.proj.weight"])


def image_features(w, c, pixels):
    """(B, C, H, W) -> (B * image_seq_len, dim), plus the intermediates for the fixtures."""
    emb = vision_embeddings(w, c, pixels)
    enc = vision_encoder(w, c, emb)
    con = connector(w, c, enc)
    return con.reshape(-1, c.dim), emb, enc


# --- text ----------------------------------------------------------------------------------

def rms_norm(x, weight, eps):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def make_rope(c, T):
    hd = c.dim // c.heads
    inv = 1.0 / (c.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    freqs = torch.outer(torch.arange(T, dtype=torch.float32), inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()

    def rope(x):
        half = x.shape[-1] // 2
        rot = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rot * sin
    return rope


def text_forward(w, c, ids, image_feats=None, lm_head_tied=None):
    """ids: list of token ids -> logits (T, vocab). image_feats rows replace the image tokens."""
    ids_t = torch.tensor(ids)
    x = w["model.text_model.embed_tokens.weight"][ids_t].clone()
    pos = (ids_t == c.image_token_id).nonzero().flatten()
    if len(pos):
        assert image_feats is not None and image_feats.shape[0] == len(pos)
        x[pos] = image_feats
    x = x[None]
    T = len(ids)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    rope = make_rope(c, T)
    for i in range(c.layers):
        p = f"model.text_model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], c.eps)
        a = p + "self_attn."
        x = x + attention(h, w[a + "q_proj.weight"], None, w[a + "k_proj.weight"], None,
                          w[a + "v_proj.weight"], None, w[a + "o_proj.weight"], None,
                          c.heads, c.kv_heads, mask=mask, rope=rope)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], c.eps)
        m = p + "mlp."
        g = F.silu(F.linear(h, w[m + "gate_proj.weight"])) * F.linear(h, w[m + "up_proj.weight"])
        x = x + F.linear(g, w[m + "down_proj.weight"])
    x = rms_norm(x, w["model.text_model.norm.weight"], c.eps)
    tied = c.tie if lm_head_tied is None else lm_head_tied
    head = w["model.text_model.embed_tokens.weight"] if tied else w["lm_head.weight"]
    return F.linear(x[0], head)


def greedy(w, c, ids, image_feats, max_new, stop=()):
    """Returns (new token ids, mean log-prob of the chosen tokens, smallest top-1/top-2 gap)."""
    ids = list(ids)
    out, logps, gap = [], [], float("inf")
    for _ in range(max_new):
        logits = text_forward(w, c, ids, image_feats)[-1]
        top2 = torch.topk(logits, 2).values
        gap = min(gap, float(top2[0] - top2[1]))
        tok = int(torch.argmax(logits))
        logps.append(float(torch.log_softmax(logits, -1)[tok]))
        out.append(tok)
        ids.append(tok)
        if tok in stop:
            break
    return out, sum(logps) / len(logps), gap


def load(model_dir):
    with open(f"{model_dir}/config.json") as f:
        c = Config(json.load(f))
    return read_safetensors(f"{model_dir}/model.safetensors"), c
