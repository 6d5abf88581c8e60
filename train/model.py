"""
train/model.py - the trainable Idefics3 model (nn.Module) whose state_dict keys are
transformers' tensor names, so export is a rename-free dump and train/idefics3_ref.py (the
functional float32 reference the C engine is checked against) computes the same function.

Why a second implementation: idefics3_ref.py is a plain function of a weight dict, float32,
one sequence at a time, no autograd-friendly batching. This module batches, runs under bf16
autocast and uses fused attention where torch has it; tests/test_model.py checks it against
idefics3_ref on the same weights.

Training-only extras (never exported): `ctc_head`, a linear map from the encoder features of
two patch rows (one text-line band of line_tile) to ctc_steps sub-steps per patch column.

Inputs: pixels are grayscale tiles (N, 1, S, S) already normalized ((x/255 - 0.5) / 0.5).
The exported model takes RGB; for a gray image R = G = B, so the patch convolution over three
equal channels equals a one-channel convolution with the kernel summed over channels.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


def param_count_estimate(cfg):
    m = Idefics3(cfg, ctc_classes=0)
    return sum(p.numel() for p in m.parameters())


class VisionAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.v_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x):
        B, T, D = x.shape
        h = self.heads
        q = self.q_proj(x).view(B, T, h, D // h).transpose(1, 2)
        k = self.k_proj(x).view(B, T, h, D // h).transpose(1, 2)
        v = self.v_proj(x).view(B, T, h, D // h).transpose(1, 2)
        o = _attend(q, k, v, causal=False)
        return self.out_proj(o.transpose(1, 2).reshape(B, T, D))


def _attend(q, k, v, causal):
    if HAS_SDPA:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        T = q.shape[-2]
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
        s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s.float(), dim=-1).to(v.dtype) @ v


class VisionMLP(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class VisionLayer(nn.Module):
    def __init__(self, d, hidden, heads, eps):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(d, eps=eps)
        self.self_attn = VisionAttention(d, heads)
        self.layer_norm2 = nn.LayerNorm(d, eps=eps)
        self.mlp = VisionMLP(d, hidden)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class VisionEmbeddings(nn.Module):
    def __init__(self, d, patch, image_size, channels=3):
        super().__init__()
        self.patch = patch
        self.patch_embedding = nn.Conv2d(channels, d, patch, stride=patch)
        self.position_embedding = nn.Embedding((image_size // patch) ** 2, d)

    def forward(self, pixels):
        w = self.patch_embedding.weight
        if pixels.shape[1] == 1 and w.shape[1] != 1:
            w = w.sum(1, keepdim=True)
        x = F.conv2d(pixels, w, self.patch_embedding.bias, stride=self.patch)
        x = x.flatten(2).transpose(1, 2)
        return x + self.position_embedding.weight[: x.shape[1]]


class Encoder(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)


class VisionModel(nn.Module):
    def __init__(self, v):
        super().__init__()
        d, eps = v["hidden_size"], v.get("layer_norm_eps", 1e-6)
        self.embeddings = VisionEmbeddings(d, v["patch_size"], v["image_size"])
        self.encoder = Encoder([VisionLayer(d, v["intermediate_size"], v["num_attention_heads"],
                                            eps) for _ in range(v["num_hidden_layers"])])
        self.post_layernorm = nn.LayerNorm(d, eps=eps)

    def forward(self, pixels, checkpointing=False):
        x = self.embeddings(pixels)
        for layer in self.encoder.layers:
            if checkpointing and x.requires_grad:
                x = torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        return self.post_layernorm(x)


class ModalityProjection(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.proj = nn.Linear(din, dout, bias=False)


class Connector(nn.Module):
    def __init__(self, vdim, dim, scale):
        super().__init__()
        self.scale = scale
        self.modality_projection = ModalityProjection(vdim * scale * scale, dim)

    def forward(self, x):
        return self.modality_projection.proj(pixel_shuffle(x, self.scale))


def pixel_shuffle(x, s):
    """Idefics3Connector.pixel_shuffle (same reshapes as idefics3_ref.pixel_shuffle)."""
    bsz, seq, d = x.shape
    h = w = int(seq ** 0.5)
    x = x.reshape(bsz, h, w // s, d * s).permute(0, 2, 1, 3)
    x = x.reshape(bsz, w // s, h // s, d * s * s).permute(0, 2, 1, 3)
    return x.reshape(bsz, seq // (s * s), d * s * s)


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (self.weight * y).to(x.dtype) if x.dtype != torch.float32 else self.weight * y


class TextAttention(nn.Module):
    def __init__(self, d, heads, kv_heads):
        super().__init__()
        self.heads, self.kv_heads, self.hd = heads, kv_heads, d // heads
        self.q_proj = nn.Linear(d, heads * self.hd, bias=False)
        self.k_proj = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.v_proj = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.o_proj = nn.Linear(heads * self.hd, d, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.heads, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kv_heads, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kv_heads, self.hd).transpose(1, 2)
        q, k = _rope(q, cos, sin), _rope(k, cos, sin)
        rep = self.heads // self.kv_heads
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        o = _attend(q, k, v, causal=True)
        return self.o_proj(o.transpose(1, 2).reshape(B, T, self.heads * self.hd))


def _rope(x, cos, sin):
    half = x.shape[-1] // 2
    rot = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos.to(x.dtype) + rot * sin.to(x.dtype)


class TextMLP(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.gate_proj = nn.Linear(d, hidden, bias=False)
        self.up_proj = nn.Linear(d, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class TextLayer(nn.Module):
    def __init__(self, t):
        super().__init__()
        d, eps = t["hidden_size"], t.get("rms_norm_eps", 1e-6)
        self.input_layernorm = RMSNorm(d, eps)
        self.self_attn = TextAttention(d, t["num_attention_heads"], t["num_key_value_heads"])
        self.post_attention_layernorm = RMSNorm(d, eps)
        self.mlp = TextMLP(d, t["intermediate_size"])

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class TextModel(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.embed_tokens = nn.Embedding(t["vocab_size"], t["hidden_size"])
        self.layers = nn.ModuleList([TextLayer(t) for _ in range(t["num_hidden_layers"])])
        self.norm = RMSNorm(t["hidden_size"], t.get("rms_norm_eps", 1e-6))
        self.theta = t.get("rope_theta", 10000.0)
        self.hd = t["hidden_size"] // t["num_attention_heads"]

    def rope(self, T, device):
        inv = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, device=device).float() / self.hd))
        f = torch.outer(torch.arange(T, device=device).float(), inv)
        e = torch.cat((f, f), -1)
        return e.cos(), e.sin()

    def forward(self, x):
        cos, sin = self.rope(x.shape[1], x.device)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.norm(x)


class Inner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.vision_model = VisionModel(cfg["vision_config"])
        self.connector = Connector(cfg["vision_config"]["hidden_size"],
                                   cfg["text_config"]["hidden_size"], cfg["scale_factor"])
        self.text_model = TextModel(cfg["text_config"])


class Idefics3(nn.Module):
    """cfg: a dict in config.json's layout (vision_config, text_config, scale_factor,
    image_token_id). ctc_classes > 0 adds the training-only CTC head."""

    def __init__(self, cfg, ctc_classes=0, ctc_steps=4):
        super().__init__()
        self.cfg = cfg
        self.model = Inner(cfg)
        t = cfg["text_config"]
        self.tied = t.get("tie_word_embeddings", cfg.get("tie_word_embeddings", False))
        if not self.tied:
            self.lm_head = nn.Linear(t["hidden_size"], t["vocab_size"], bias=False)
        self.image_token_id = cfg["image_token_id"]
        v = cfg["vision_config"]
        self.side = v["image_size"] // v["patch_size"]
        self.ctc_steps = ctc_steps
        if ctc_classes:
            self.ctc_head = nn.Linear(2 * v["hidden_size"], ctc_steps * ctc_classes)
        self.ctc_classes = ctc_classes
        self.checkpointing = False
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def encode(self, pixels):
        return self.model.vision_model(pixels, self.checkpointing)

    def image_features(self, pixels):
        """(N, C, S, S) -> (N, image_seq_len, dim)."""
        return self.model.connector(self.encode(pixels))

    def head(self, h):
        w = self.model.text_model.embed_tokens.weight if self.tied else self.lm_head.weight
        return F.linear(h, w)

    def forward(self, pixels, input_ids, feats=None):
        """pixels: all images of the batch in prompt order (sample by sample, tiles then the
        global image); input_ids (B, T) with exactly N * image_seq_len image tokens.
        -> logits (B, T, vocab)."""
        if feats is None:
            feats = self.image_features(pixels)
        x = self.model.text_model.embed_tokens(input_ids)
        mask = (input_ids == self.image_token_id).unsqueeze(-1)
        x = x.masked_scatter(mask, feats.to(x.dtype).reshape(-1, x.shape[-1]))
        return self.head(self.model.text_model(x))

    def ctc_logits(self, pixels):
        """Encoder features of band i (patch rows 2i, 2i+1) -> (N, bands, side * steps,
        classes) log-probabilities."""
        enc = self.encode(pixels)
        N, _, D = enc.shape
        s = self.side
        x = enc.view(N, s // 2, 2, s, D).permute(0, 1, 3, 2, 4).reshape(N, s // 2, s, 2 * D)
        y = self.ctc_head(x).view(N, s // 2, s * self.ctc_steps, self.ctc_classes)
        return y.float().log_softmax(-1)

    def export_state(self):
        """The tensors the exported model holds (no training-only heads)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("ctc_head.")}
