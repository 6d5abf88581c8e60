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
"""
import argparse
import json
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
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
    a = ap.parse_args()
    size, recipe = export(a.ckpt, a.out, a.dtype)
    print(f"{a.out}: {size / 2 ** 20:.1f} MiB, stage {recipe['stage']}, "
          f"samples {recipe['samples']}")
    if a.check:
        print("check", json.dumps(check(a.out, a.ckpt)))


if __name__ == "__main__":
    main()
