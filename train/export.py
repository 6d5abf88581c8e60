"""
train/export.py - writes a checkpoint as a Hugging Face model folder that quire's C engine
(llm/) and transformers' Idefics3ForConditionalGeneration load:

  config.json               Idefics3Config layout (vision_config, text_config, scale_factor,
                            image_token_id, tie_word_embeddings)
  model.safetensors         transformers' tensor names, BF16 by default (F32 / F16 on request);
                            the training-only CTC head is left out
  tokenizer.json            byte-level BPE + added tokens (train/otsl_vocab.py)
  preprocessor_config.json  Idefics3ImageProcessor settings, plus "quire_input_policy": how the
                            caller must prepare a table crop (see README "Model input")
  generation_config.json    eos = <end_of_utterance>

usage: python3 train/export.py --ckpt train/ckpt --out models/quire-table [--dtype BF16]

With --reader it writes instead the line reader that llm/reader.c runs (llm/llm.h, "line
reader"): the encoder alone with its CTC head (stage A's reading model), for one-channel tiles:

  config.json        {"model_type": "quire_reader", "vision_config": {..., "num_channels": 1},
                     "quire_reader": {"ctc_steps", "charset" (class k = charset[k - 1], 0 is
                     the blank), "x_height" (middle of data.xh_range)}, "quire_recipe": {...}}
  model.safetensors  F32: model.vision_model.* (the patch kernel summed over its input
                     channels: (dim, 1, p, p)), ctc_head.weight, ctc_head.bias

usage: python3 train/export.py --ckpt train/ckpt --out models/quire-reader --reader
"""
import argparse
import json
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402
import idefics3_ref  # noqa: E402
import otsl_vocab as ov  # noqa: E402
import train as tr  # noqa: E402


def preprocessor_config(cfg):
    S = cfg["model"]["vision_config"]["image_size"]
    grid = cfg["data"]["max_grid"]
    return {
        "image_processor_type": "Idefics3ImageProcessor",
        "processor_class": "Idefics3Processor",
        "do_convert_rgb": True, "do_resize": True, "size": {"longest_edge": grid * S},
        "resample": 1, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
        "do_image_splitting": True, "max_image_size": {"longest_edge": S}, "do_pad": True,
        "quire_input_policy": {
            "x_height_px": cfg["data"]["xh_range"], "pad_to_tiles": True, "max_grid": grid,
            "note": "render the table crop so its x-height is about 10 px (within x_height_px), "
                    "scale it down only if it needs more than max_grid tiles per side, pad it "
                    "with white on the right and bottom to whole image_size tiles, then run the "
                    "processor with size.longest_edge = the padded longest side"},
        "prompt": ov.PROMPT_TABLE,
    }


def export(ckpt, out, dtype="BF16"):
    model, recipe, cfg, tok = tr.load_for_eval(ckpt, torch.device("cpu"))
    mcfg = dict(model.cfg)
    mcfg["torch_dtype"] = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}[dtype]
    os.makedirs(out, exist_ok=True)
    idefics3_ref.write_safetensors(os.path.join(out, "model.safetensors"), model.export_state(),
                                   dtype)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(mcfg, f, indent=2)
    shutil.copy(os.path.join(ckpt, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
        json.dump(preprocessor_config(cfg), f, indent=2)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"eos_token_id": tok.added[ov.EOS], "pad_token_id": tok.added[ov.PAD],
                   "bos_token_id": tok.added["<|im_start|>"], "max_new_tokens": 1024}, f,
                  indent=2)
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    return size, recipe


PATCH_KERNEL = "model.vision_model.embeddings.patch_embedding.weight"


def reader_state(model):
    """The tensors of a reader: the encoder and the CTC head, the patch kernel summed over its
    input channels (VisionEmbeddings.forward does exactly that for a one-channel input, so the
    reader computes what ctc_logits computes on gray tiles)."""
    sd = {k: v.detach().float().clone() for k, v in model.state_dict().items()
          if k.startswith("model.vision_model.") or k.startswith("ctc_head.")}
    if "ctc_head.weight" not in sd:
        raise ValueError("the model has no CTC head")
    sd[PATCH_KERNEL] = sd[PATCH_KERNEL].sum(1, keepdim=True)
    return sd


def write_reader(model, charset, x_height, out, record=None):
    """Writes `model` (an Idefics3 with a CTC head of len(charset) + 1 classes) as a reader
    folder. record: what to keep in config.json's "quire_recipe" (not read by quire)."""
    if model.ctc_classes != len(charset) + 1:
        raise ValueError(f"CTC head has {model.ctc_classes} classes, charset {len(charset)}")
    if any(not isinstance(ch, str) or not ch or len(ch.encode()) > 16 for ch in charset):
        raise ValueError("charset strings must be non-empty, at most 16 UTF-8 bytes")
    v = dict(model.cfg["vision_config"])
    v["num_channels"] = 1
    cfg = {"model_type": "quire_reader", "vision_config": v,
           "quire_reader": {"ctc_steps": model.ctc_steps, "charset": list(charset),
                            "x_height": float(x_height)}}
    if record is not None:
        cfg["quire_recipe"] = record
    os.makedirs(out, exist_ok=True)
    idefics3_ref.write_safetensors(os.path.join(out, "model.safetensors"), reader_state(model),
                                   "F32")
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, ensure_ascii=False)
    return sum(os.path.getsize(os.path.join(out, f)) for f in ("config.json",
                                                               "model.safetensors"))


def export_reader(ckpt, out):
    """A training checkpoint -> a reader folder (data.CHARSET, ctc_steps of the checkpoint's
    config, x_height the middle of its xh_range)."""
    model, recipe, cfg, _ = tr.load_for_eval(ckpt, torch.device("cpu"))
    lo, hi = cfg["data"]["xh_range"]
    record = {"samples": recipe.get("samples"), "metrics": recipe.get("metrics"),
              "stage": recipe.get("stage"), "name": cfg.get("name")}
    size = write_reader(model, data.CHARSET, (lo + hi) / 2, out, record)
    return size, recipe


def check(out, ckpt, seed=10 ** 9 + 7):
    """Loads the exported folder with idefics3_ref (the reference the C engine matches) and,
    when importable, with transformers; compares their logits on one held-out table with the
    training module's (weights rounded like the export). Returns a dict of max differences."""
    from PIL import Image
    import data
    import synth
    from model import Idefics3
    w, c = idefics3_ref.load(out)
    with open(os.path.join(out, "config.json")) as f:
        mcfg = json.load(f)
    tok = ov.load_tokenizer(os.path.join(out, "tokenizer.json"))
    with open(os.path.join(ckpt, "recipe.json")) as f:
        cfg = json.load(f)["config"]
    m = Idefics3(mcfg)
    m.load_state_dict({k: v for k, v in w.items()}, strict=not m.tied)
    m.eval()
    S = c.image_size
    s = synth.render_table(synth.random_table(seed, 4, 4, spans=False), seed,
                           tuple(cfg["data"]["xh_range"]))
    tiles, rows, cols, scale = data.to_tiles(s.image, S, cfg["data"]["max_grid"])
    img = s.image
    if scale != 1:
        img = img.resize((max(1, int(img.size[0] * scale)), max(1, int(img.size[1] * scale))),
                         Image.LANCZOS)
    W, H = max(cols, 1) * S, max(rows, 1) * S
    canvas = Image.new("L", (W, H), 255)
    canvas.paste(img, (0, 0))
    frames, r2, c2 = idefics3_ref.preprocess(canvas.convert("RGB"), max(W, H), S, True)
    mine = data.normalize(torch.from_numpy(tiles))
    res = {"layout": [rows, cols, r2, c2], "pixels": float((frames[:, :1] - mine).abs().max())}
    ids = tok.encode(ov.chat_prompt(rows, cols, data.image_seq_len(cfg)) + "<otsl>")
    with torch.no_grad():
        feats, _, _ = idefics3_ref.image_features(w, c, frames)
        ref_logits = idefics3_ref.text_forward(w, c, ids, feats)
        my_logits = m(mine, torch.tensor([ids]))[0]
    res["module_vs_ref"] = float((ref_logits - my_logits).abs().max())
    res["logit_scale"] = float(ref_logits.abs().max())
    try:
        import transformers
        hf = transformers.Idefics3ForConditionalGeneration.from_pretrained(
            out, torch_dtype=torch.float32).eval()
        with torch.no_grad():
            o = hf(input_ids=torch.tensor([ids]), pixel_values=frames[None]).logits[0]
        res["transformers_vs_ref"] = float((o - ref_logits).abs().max())
        res["transformers"] = transformers.__version__
    except Exception as e:  # transformers is not on the CPU machine
        res["transformers"] = f"not checked: {type(e).__name__}: {str(e)[:200]}"
    return res


def main():
    ap = argparse.ArgumentParser(description="checkpoint -> Hugging Face model folder")
    ap.add_argument("--ckpt", default=os.path.join(HERE, "ckpt"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="BF16", choices=["BF16", "F16", "F32"])
    ap.add_argument("--check", action="store_true",
                    help="after exporting, compare the folder's logits (reference, module, "
                         "transformers when installed)")
    ap.add_argument("--reader", action="store_true",
                    help="write the line reader (encoder + CTC head, F32) instead of the VLM")
    a = ap.parse_args()
    if a.reader:
        size, recipe = export_reader(a.ckpt, a.out)
        print(f"{a.out}: reader, {size / 2 ** 20:.1f} MiB, stage {recipe['stage']}, "
              f"samples {recipe['samples']}")
        return
    size, recipe = export(a.ckpt, a.out, a.dtype)
    print(f"{a.out}: {size / 2 ** 20:.1f} MiB, stage {recipe['stage']}, "
          f"samples {recipe['samples']}")
    if a.check:
        print("check", json.dumps(check(a.out, a.ckpt)))


if __name__ == "__main__":
    main()
