"""
train/train.py - staged, resumable training of quire's table model.

Each run resumes from the checkpoint folder (default train/ckpt), trains the current stage
until its gate metric is reached or its sample budget is spent, moves to the next stage,
stops itself before --minutes, evaluates, writes a compact checkpoint and appends a line to
train/LOG.md. Stages (README "Recipe"):
  A  encoder + CTC head on line tiles (reading), until CER <= gate_cer
  B  connector + decoder on reading tasks, encoder frozen for freeze_samples, then unfrozen
     (encoder at encoder_lr_mult x lr), until single-cell exact >= gate_cell_exact
  C  tables, curriculum small -> large, spans last, some stage-B replay

Checkpoint (at most 32 MiB, files at most 16 MiB): weights-*.safetensors (bf16, transformers'
names plus ctc_head.*), recipe.json (stage, samples per stage, steps, data seed offset, last
metrics, config), tokenizer.json. No optimizer state: AdamW restarts with a short warm-up
each run (measured as harmless at these sizes; see LOG.md). Resuming loads exactly the saved
tensors and counters (tested).

usage: python3 train/train.py --config train/configs/gpu.json --minutes 8.5
       python3 train/train.py --config train/configs/tiny.json --minutes 1 --ckpt /tmp/ck
"""
import argparse
import datetime
import json
import os
import shutil
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402
import evaluate  # noqa: E402
import idefics3_ref  # noqa: E402
import otsl_vocab as ov  # noqa: E402
from model import Idefics3  # noqa: E402

SHARD_BYTES = 15 * 2 ** 20
CKPT_LIMIT = 32 * 2 ** 20
STAGES = ("A", "B", "C")


# --- config and checkpoint ---------------------------------------------------------------------

def load_json(path):
    with open(path) as f:
        return json.load(f)


def model_config(cfg, tok):
    """config.json's dict (Idefics3Config layout) for cfg + tokenizer."""
    m = json.loads(json.dumps(cfg["model"]))
    v, t = m["vision_config"], m["text_config"]
    v.setdefault("model_type", "idefics3_vision")
    v.setdefault("num_channels", 3)
    v.setdefault("hidden_act", "gelu_pytorch_tanh")
    t.setdefault("model_type", "llama")
    t.setdefault("hidden_act", "silu")
    t["vocab_size"] = len(tok)
    tie = t.get("tie_word_embeddings", False)
    t["bos_token_id"] = tok.added["<|im_start|>"]
    t["eos_token_id"] = tok.added[ov.EOS]
    t["pad_token_id"] = tok.added[ov.PAD]
    return {"architectures": ["Idefics3ForConditionalGeneration"], "model_type": "idefics3",
            "image_token_id": tok.added["<image>"], "scale_factor": m["scale_factor"],
            "tie_word_embeddings": tie, "torch_dtype": "bfloat16",
            "vision_config": v, "text_config": t}


def save_ckpt(path, model, recipe):
    """Writes weights-NN.safetensors (bf16, <= SHARD_BYTES each) + recipe.json atomically
    (into path.tmp, then renamed over path). tokenizer.json is copied along."""
    tmp = path.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    sd = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    shards, cur, size = [], {}, 0
    for k in sorted(sd):
        n = sd[k].numel() * 2
        if cur and size + n > SHARD_BYTES:
            shards.append(cur)
            cur, size = {}, 0
        cur[k] = sd[k]
        size += n
    shards.append(cur)
    for i, sh in enumerate(shards):
        idefics3_ref.write_safetensors(os.path.join(tmp, f"weights-{i:02d}.safetensors"), sh,
                                       "BF16")
    with open(os.path.join(tmp, "recipe.json"), "w") as f:
        json.dump(recipe, f, indent=1)
    if os.path.exists(os.path.join(path, "tokenizer.json")):
        shutil.copy(os.path.join(path, "tokenizer.json"), tmp)
    total = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))
    biggest = max(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))
    if total > CKPT_LIMIT or biggest > 16 * 2 ** 20:
        raise RuntimeError(f"checkpoint {total} bytes (largest file {biggest}) over the limits")
    old = path.rstrip("/") + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(path):
        os.rename(path, old)
    os.rename(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    return total


def load_weights(path):
    sd = {}
    for f in sorted(os.listdir(path)):
        if f.startswith("weights-") and f.endswith(".safetensors"):
            sd.update(idefics3_ref.read_safetensors(os.path.join(path, f)))
    return sd


def build(cfg, ckpt, device):
    """-> (model, recipe, tokenizer, model_config). Fresh when ckpt holds no weights; a fresh
    tokenizer gets cfg["tokenizer"]["merges"] merges (default ov.DEFAULT_MERGES)."""
    merges = cfg.get("tokenizer", {}).get("merges", ov.DEFAULT_MERGES)
    tok = ov.get_tokenizer(os.path.join(ckpt, "tokenizer.json"), merges)
    mcfg = model_config(cfg, tok)
    model = Idefics3(mcfg, ctc_classes=data.CTC_CLASSES, ctc_steps=ctc_steps(cfg))
    recipe = {"stage": "A", "samples": {s: 0 for s in STAGES}, "steps": 0, "seed_offset": 0,
              "runs": 0, "metrics": {}, "config": cfg}
    rp = os.path.join(ckpt, "recipe.json")
    if os.path.exists(rp):
        with open(rp) as f:
            recipe = json.load(f)
        sd = widen_ctc_head(load_weights(ckpt), model.ctc_steps)
        missing, unexpected = model.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise RuntimeError(f"{ckpt}: missing {missing[:5]} unexpected {unexpected[:5]}")
    return model.to(device), recipe, tok, mcfg


def ctc_steps(cfg):
    """CTC sub-steps per 16-px patch column (config "ctc": {"steps": N}, default 4)."""
    return int(cfg.get("ctc", {}).get("steps", 4))


def widen_ctc_head(sd, steps):
    """A checkpoint's CTC head made for fewer sub-steps (a divisor of `steps`) is widened by
    repeating each sub-step's rows: the greedy reading is unchanged (CTC merges repeats), and
    training can then use the finer steps (e.g. "ll" needs l, blank, l: three 2-px steps)."""
    w = sd.get("ctc_head.weight")
    if w is None:
        return sd
    C = data.CTC_CLASSES
    old = w.shape[0] // C
    if old == steps or steps % old:
        return sd
    r = steps // old
    sd = dict(sd)
    sd["ctc_head.weight"] = w.view(old, C, -1).repeat_interleave(r, 0).reshape(steps * C, -1)
    sd["ctc_head.bias"] = sd["ctc_head.bias"].view(old, C).repeat_interleave(r, 0).reshape(-1)
    print(f"ctc head widened from {old} to {steps} sub-steps per patch column", flush=True)
    return sd


def init_encoder(model, recipe, src):
    """Starts a fresh checkpoint from another one's encoder (vision_model.* and ctc_head.*,
    the result of stage A): the decoder, the connector and the tokenizer stay fresh, stage A's
    sample count is carried over and training goes on with stage B. Lets a recipe change on
    the decoder side (tokenizer, decoder size) reuse a trained reader."""
    with open(os.path.join(src, "recipe.json")) as f:
        theirs = json.load(f)
    ours_v = recipe["config"]["model"]["vision_config"]
    if theirs["config"]["model"]["vision_config"] != ours_v:
        raise SystemExit(f"{src}: its vision_config differs from this config's")
    sd = {k: v for k, v in load_weights(src).items()
          if k.startswith("model.vision_model.") or k.startswith("ctc_head.")}
    own = model.state_dict()
    missing = [k for k in own if (k.startswith("model.vision_model.") or
                                  k.startswith("ctc_head.")) and k not in sd]
    if missing or not sd:
        raise SystemExit(f"{src}: no encoder weights ({missing[:3]})")
    model.load_state_dict(sd, strict=False)
    recipe["samples"]["A"] = theirs["samples"]["A"]
    recipe["metrics"]["A"] = theirs["metrics"].get("A", {})
    recipe["stage"] = "B"
    recipe["init_encoder"] = {"from": os.path.abspath(src), "samples_A": theirs["samples"]["A"]}
    print(f"encoder from {src} (stage A {theirs['samples']['A']} samples, "
          f"{json.dumps(recipe['metrics']['A'])}); stage B next", flush=True)


def load_for_eval(ckpt, device):
    with open(os.path.join(ckpt, "recipe.json")) as f:
        cfg = json.load(f)["config"]
    model, recipe, tok, _ = build(cfg, ckpt, device)
    return model, recipe, cfg, tok


def append_log(log_path, line):
    new = not os.path.exists(log_path)
    with open(log_path, "a") as f:
        if new:
            f.write("# Training log\n\n| date (UTC) | run | stage | samples A/B/C | metrics | "
                    "checkpoint |\n|---|---|---|---|---|---|\n")
        f.write(line + "\n")


# --- optimization ------------------------------------------------------------------------------

def make_optimizer(model, stage, cfg, train_encoder):
    tr = cfg["train"]
    lr = tr["lr"][stage]
    enc = list(model.model.vision_model.parameters())
    enc_ids = {id(p) for p in enc}
    groups = []
    if stage == "A":
        groups.append({"params": enc + list(model.ctc_head.parameters()), "lr": lr})
    else:
        rest = [p for n, p in model.named_parameters()
                if id(p) not in enc_ids and not n.startswith("ctc_head.")]
        groups.append({"params": rest, "lr": lr})
        if train_encoder:
            groups.append({"params": enc, "lr": lr * tr["encoder_lr_mult"]})
    for p in model.parameters():
        p.requires_grad_(False)
    for g in groups:
        for p in g["params"]:
            p.requires_grad_(True)
        g["base_lr"] = g["lr"]
    kw = {"fused": True} if next(model.parameters()).is_cuda and \
        "fused" in torch.optim.AdamW.__init__.__code__.co_varnames else {}
    return torch.optim.AdamW(groups, betas=(0.9, 0.98), weight_decay=tr["weight_decay"], **kw)


def set_lr(opt, step, warmup, frac_left):
    """Linear warm-up over `warmup` steps of this run; then constant (runs are short and
    resumed; the stage's decay comes from frac_left, the share of the stage budget left)."""
    w = min(1.0, (step + 1) / max(warmup, 1))
    decay = 0.1 + 0.9 * max(0.0, min(1.0, frac_left))
    for g in opt.param_groups:
        g["lr"] = g["base_lr"] * w * decay


def autocast(device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def step_A(model, batch, device):
    lp = model.ctc_logits(data.normalize(batch["pixels"].to(device, non_blocking=True)))
    w = batch["where"].to(device)
    sel = lp[w[:, 0], w[:, 1]]                        # (M, L, C)
    L = sel.shape[1]
    lengths = batch["lengths"].to(device)
    return F.ctc_loss(sel.transpose(0, 1), batch["targets"].to(device),
                      torch.full((sel.shape[0],), L, dtype=torch.long, device=device), lengths,
                      zero_infinity=True)


def step_seq(model, batch, device):
    logits = model(data.normalize(batch["pixels"].to(device, non_blocking=True)),
                   batch["ids"].to(device, non_blocking=True))
    lab = batch["labels"].to(device, non_blocking=True)
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), lab.reshape(-1),
                           ignore_index=-100)


# --- the run -----------------------------------------------------------------------------------

def stage_done(stage, cfg, recipe, metrics):
    """Why `stage` is finished ("gate met" / "sample budget spent"), or "" (C never ends)."""
    st = cfg["stages"][stage]
    n = recipe["samples"][stage]
    if stage == "A" and metrics.get("cer", 1.0) <= st["gate_cer"]:
        return "gate met"
    if stage == "B" and metrics.get("cell_exact", 0.0) >= st["gate_cell_exact"]:
        return "gate met"
    if stage != "C" and n >= st["max_samples"]:
        return "sample budget spent, gate NOT met"
    return ""


def make_loader(cfg, recipe, stage, ckpt, workers, batch):
    base = recipe["seed_offset"] * 1000 + 17  # fresh data after every resume, below EVAL_SEED
    total = cfg["stages"][stage].get("max_samples") or cfg["stages"]["C"]["curriculum_samples"]
    if stage == "A":
        ds = data.LineTiles(cfg, base)
        return data.loader(ds, batch, data.collate_lines, workers)
    tok_path = os.path.join(ckpt, "tokenizer.json")
    ds = data.SeqTasks(cfg, base, tok_path, stage, recipe["samples"][stage], total)
    pad = ov.load_tokenizer(tok_path).added[ov.PAD]
    return data.loader(ds, batch, data.SeqCollate(pad), workers)


def run(args):
    t_start = time.time()
    deadline = t_start + args.minutes * 60 - args.reserve_s
    device = torch.device(args.device)
    with open(args.config) as f:
        cfg = json.load(f)
    os.makedirs(args.ckpt, exist_ok=True)
    fresh = not os.path.exists(os.path.join(args.ckpt, "recipe.json"))
    model, recipe, tok, mcfg = build(cfg, args.ckpt, device)
    if args.init_encoder:
        if not fresh:
            raise SystemExit(f"--init-encoder needs a fresh --ckpt; {args.ckpt} has a recipe")
        init_encoder(model, recipe, args.init_encoder)
    if recipe.get("config") != cfg and os.path.exists(os.path.join(args.ckpt, "recipe.json")):
        if recipe["config"]["model"] != cfg["model"]:
            raise SystemExit(f"{args.ckpt}: the checkpoint's model config differs from "
                             f"{args.config}; use another --ckpt")
        recipe["config"] = cfg  # recipe knobs may change between runs; the model may not
    torch.manual_seed(args.seed + recipe["runs"])
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model.checkpointing = args.grad_checkpointing
    model.train()
    import synth
    fonts = synth.discover_fonts()  # once, before the DataLoader workers fork
    print(f"{len(fonts)} fonts in {len(synth.font_groups())} families; "
          f"{sum(p.numel() for p in model.export_state().values()) / 1e6:.2f}M exported params; "
          f"stage {args.stage or recipe['stage']}; samples {recipe['samples']}", flush=True)
    stage = args.stage or recipe["stage"]
    recipe["runs"] += 1
    log = []
    losses = []
    samples0 = dict(recipe["samples"])
    plan = {}
    for part in filter(None, args.plan.split(",")):
        k, v = part.split(":")
        plan[k.strip()] = float(v) * 60
    if args.batch:
        cfg["train"]["batch"] = {s: args.batch for s in STAGES}
    if args.eval_n:
        cfg["train"]["eval_n"] = args.eval_n
    recipe["stage"] = stage
    try:
        stage = _train_loop(args, cfg, model, recipe, tok, device, stage, plan, deadline,
                            t_start, samples0, losses, log)
    except BaseException as e:  # keep what was learned: save, log the failure, re-raise
        import traceback
        traceback.print_exc()
        log.append(f"FAILED: {type(e).__name__}: {str(e)[:200]}")
        recipe["seed_offset"] += 1
        size = save_ckpt(args.ckpt, model, recipe)
        if not args.no_log:
            append_log(args.log, _log_line(args, cfg, recipe, recipe["stage"], {}, losses, log,
                                           size, t_start, device))
        raise
    return _finish(args, cfg, model, recipe, tok, device, stage, losses, log, t_start)


def _train_loop(args, cfg, model, recipe, tok, device, stage, plan, deadline, t_start,
                samples0, losses, log):
    workers = cfg["train"]["workers"] if args.workers < 0 else args.workers
    steps_this_run = 0
    last_eval = time.time()
    stop = False
    metrics = {}
    stage_t0 = time.time()
    out_of_plan = False
    while not stop:
        n_batch = cfg["train"]["batch"][stage]
        train_enc = stage != "B" or recipe["samples"]["B"] >= cfg["stages"]["B"]["freeze_samples"]
        opt = make_optimizer(model, stage, cfg, train_enc)
        dl = make_loader(cfg, recipe, stage, args.ckpt, workers, n_batch)
        step_in_stage = 0
        t_data = t_step = 0.0
        t0 = time.time()
        for batch in dl:
            t1 = time.time()
            t_data += t1 - t0
            st = cfg["stages"][stage]
            budget = st.get("max_samples") or st.get("curriculum_samples")
            set_lr(opt, step_in_stage, cfg["train"]["warmup_steps"],
                   1 - recipe["samples"][stage] / max(budget, 1))
            with autocast(device):
                loss = step_A(model, batch, device) if stage == "A" else \
                    step_seq(model, batch, device)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(
                [p for g in opt.param_groups for p in g["params"]], cfg["train"]["grad_clip"])
            opt.step()
            lv = float(loss)
            losses.append(lv)
            n = batch["pixels"].shape[0] if stage == "A" else len(batch["targets"])
            recipe["samples"][stage] += n
            recipe["steps"] += 1
            steps_this_run += 1
            step_in_stage += 1
            t0 = time.time()
            t_step += t0 - t1
            if steps_this_run % args.print_every == 0:
                rate = sum(recipe["samples"][s] - samples0[s] for s in STAGES) / (t0 - t_start)
                print(f"[{stage}] step {recipe['steps']} samples {recipe['samples'][stage]} "
                      f"loss {sum(losses[-args.print_every:]) / args.print_every:.4f} "
                      f"{rate:.0f} samples/s data-wait {t_data / (t_data + t_step):.0%}",
                      flush=True)
            if args.max_steps and steps_this_run >= args.max_steps:
                stop = True
            elif time.time() >= deadline:
                stop = True
            elif stage == "B" and not train_enc and \
                    recipe["samples"]["B"] >= cfg["stages"]["B"]["freeze_samples"]:
                print("[B] unfreezing the encoder", flush=True)
                break
            elif time.time() - last_eval > cfg["train"]["eval_every_s"] and not args.no_eval:
                metrics = evaluate.stage_metrics(model, cfg, tok, stage, device,
                                                 cfg["train"]["eval_n"])
                last_eval = time.time()
                print(f"[{stage}] eval {json.dumps(metrics)}", flush=True)
                recipe["metrics"][stage] = metrics
                if not args.stage and stage_done(stage, cfg, recipe, metrics):
                    break
            elif not args.stage and stage_done(stage, cfg, recipe, {}):
                break
            elif stage in plan and stage != "C" and time.time() - stage_t0 > plan[stage]:
                out_of_plan = True
                break
            if stop:
                break
        del dl
        if stop:
            break
        gate = stage_done(stage, cfg, recipe, metrics)
        if (gate or out_of_plan) and stage != "C" and not args.stage:
            if gate != "gate met" and not args.no_eval:  # measure where the stage was left
                recipe["metrics"][stage] = evaluate.stage_metrics(
                    model, cfg, tok, stage, device, cfg["train"]["eval_n"])
            why = gate or "time plan spent, gate NOT met"
            log.append(f"stage {stage} left at {recipe['samples'][stage]} samples ({why}): "
                       f"{json.dumps(recipe['metrics'].get(stage, {}))}")
            print(log[-1], flush=True)
            stage = STAGES[STAGES.index(stage) + 1]
            recipe["stage"] = stage
            metrics = {}
            out_of_plan = False
            stage_t0 = time.time()
            save_ckpt(args.ckpt, model, recipe)  # a later failure keeps the finished stage
            print(f"-> stage {stage}", flush=True)
    return stage


def _log_line(args, cfg, recipe, stage, metrics, losses, log, size, t_start, device):
    seen = "/".join(str(recipe["samples"][s]) for s in STAGES)
    dev = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    short = {k: v for k, v in metrics.items() if k != "by_style"}
    first = sum(losses[:5]) / max(len(losses[:5]), 1) if losses else 0.0
    last = sum(losses[-20:]) / max(len(losses[-20:]), 1) if losses else 0.0
    return (f"| {datetime.datetime.utcnow():%Y-%m-%d %H:%M} | {recipe['runs']} "
            f"({dev}, {(time.time() - t_start) / 60:.1f} min, {cfg['name']}) | {stage} | {seen} | "
            f"loss {first:.3f} -> {last:.3f}; {json.dumps(short)}"
            f"{'; ' + '; '.join(log) if log else ''} | {args.ckpt} ({size / 2 ** 20:.1f} MiB) |")


def _finish(args, cfg, model, recipe, tok, device, stage, losses, log, t_start):
    metrics = {}
    if not args.no_eval:
        metrics = evaluate.stage_metrics(model, cfg, tok, stage, device, cfg["train"]["eval_n"])
        recipe["metrics"][stage] = metrics
        print(f"[{stage}] final eval {json.dumps(metrics)}", flush=True)
    recipe["seed_offset"] += 1
    recipe["last_loss"] = sum(losses[-20:]) / max(len(losses[-20:]), 1) if losses else None
    recipe["first_loss"] = sum(losses[:5]) / max(len(losses[:5]), 1) if losses else None
    size = save_ckpt(args.ckpt, model, recipe)
    line = _log_line(args, cfg, recipe, stage, metrics, losses, log, size, t_start, device)
    if not args.no_log:
        append_log(args.log, line)
    print(line, flush=True)
    return recipe, losses


def parse(argv=None):
    ap = argparse.ArgumentParser(description="staged, resumable training")
    ap.add_argument("--config", default=os.path.join(HERE, "configs", "gpu.json"))
    ap.add_argument("--ckpt", default=os.path.join(HERE, "ckpt"))
    ap.add_argument("--minutes", type=float, default=8.5, help="wall-clock budget of this run")
    ap.add_argument("--reserve-s", type=float, default=45.0,
                    help="seconds kept for the final eval and the checkpoint")
    ap.add_argument("--stage", default="", help="force a stage (A, B, C); default: the recipe's")
    ap.add_argument("--plan", default="",
                    help="minutes per stage in this run, e.g. A:3,B:2.3: a stage whose minutes "
                         "are spent hands over to the next even if its gate is not met (logged)")
    ap.add_argument("--init-encoder", default="",
                    help="a fresh --ckpt starts from this checkpoint's encoder, in stage B")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--workers", type=int, default=-1, help="DataLoader workers (-1: config)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=0, help="override every stage's batch size")
    ap.add_argument("--eval-n", type=int, default=0, help="override the evaluation size")
    ap.add_argument("--print-every", type=int, default=50)
    ap.add_argument("--grad-checkpointing", action="store_true")
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--no-log", action="store_true")
    ap.add_argument("--log", default=os.path.join(HERE, "LOG.md"))
    return ap.parse_args(argv)


if __name__ == "__main__":
    run(parse())
