"""
Tests for the training side (plain unittest; Debian's python3 with torch):
    /usr/bin/python3 -m unittest discover train/tests
"""
import json
import os
import shutil
import struct
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import bpe_ref  # noqa: E402
import data  # noqa: E402
import evaluate as ev  # noqa: E402
import export  # noqa: E402
import idefics3_ref  # noqa: E402
import otsl_vocab as ov  # noqa: E402
import synth  # noqa: E402
import train as tr  # noqa: E402
from model import Idefics3  # noqa: E402

TINY = os.path.join(os.path.dirname(HERE), "configs", "tiny.json")
_TOK = {}


def tokenizer_path():
    """One tokenizer for the whole test run (building it takes a few seconds)."""
    if "path" not in _TOK:
        d = tempfile.mkdtemp(prefix="quire-tok-")
        _TOK["path"] = os.path.join(d, "tokenizer.json")
        ov.get_tokenizer(_TOK["path"])
    return _TOK["path"]


class TestGenerator(unittest.TestCase):
    def test_synth__deterministic_per_seed(self):
        for seed in (1, 2, 99):
            a, b = synth.table_sample(seed), synth.table_sample(seed)
            self.assertEqual(a.otsl, b.otsl)
            self.assertEqual(a.image.tobytes(), b.image.tobytes())
        self.assertNotEqual(synth.table_sample(1).otsl, synth.table_sample(2).otsl)
        i1, t1 = synth.line_tile(5)
        i2, t2 = synth.line_tile(5)
        self.assertEqual(t1, t2)
        self.assertEqual(i1.tobytes(), i2.tobytes())

    def test_data__random_letter_cells(self):
        tok = ov.load_tokenizer(tokenizer_path())
        cfg = tr.load_json(TINY)
        a = data.make_task(cfg, tok, 5, "cell_rand")
        b = data.make_task(cfg, tok, 5, "cell_rand")
        self.assertEqual(a["target"], b["target"])
        n_rows, n_cols, cells = ov.parse_otsl(a["target"])
        self.assertEqual((n_rows, n_cols, len(cells)), (1, 1, 1))
        words = [w for s in range(40)
                 for w in ov.parse_otsl(data.make_task(cfg, tok, s, "cell_rand")["target"])[2][0]
                 .text.split()]
        self.assertGreater(len(words), 40)
        self.assertLess(sum(w.lower() in synth.WORDS for w in words), 3)  # not the vocabulary

    def test_synth__otsl_parses_to_the_intended_grid(self):
        spans_seen = 0
        for seed in range(150):
            t = synth.random_table(seed)
            n_rows, n_cols, cells = ov.parse_otsl(t.otsl())
            self.assertEqual((n_rows, n_cols), (t.n_rows, t.n_cols), seed)
            want = sorted((c.r, c.c, c.rs, c.cs, " ".join(c.text.split())) for c in t.cells)
            got = sorted((c.r, c.c, c.rs, c.cs, c.text) for c in cells)
            self.assertEqual(got, want, seed)
            spans_seen += any(c.rs > 1 or c.cs > 1 for c in t.cells)
        self.assertGreater(spans_seen, 10)

    def test_otsl__block_span_and_tolerance(self):
        cells = [ov.Cell(0, 0, 2, 2, "A", "ched"), ov.Cell(0, 2, 1, 1, "b", "ched"),
                 ov.Cell(1, 2, 1, 1, "", "fcel"), ov.Cell(2, 0, 1, 3, "sec", "srow")]
        s = ov.to_otsl(3, 3, cells)
        self.assertEqual(s, "<otsl><ched>A<lcel><ched>b<nl><ucel><xcel><ecel><nl>"
                            "<srow>sec<lcel><lcel><nl></otsl>")
        n_rows, n_cols, got = ov.parse_otsl(s)
        self.assertEqual(sorted(c.tuple()[:5] for c in got),
                         sorted(c.tuple()[:5] for c in cells))
        # ragged model output: padded, never raises
        n_rows, n_cols, got = ov.parse_otsl("junk<otsl><fcel>a<lcel><nl><xcel><nl>")
        self.assertEqual((n_rows, n_cols), (2, 2))

    def test_synth__boxes_inside_image(self):
        for seed in range(20):
            s = synth.table_sample(seed)
            w, h = s.image.size
            self.assertEqual(len(s.cell_boxes), len(s.table.cells))
            for t, (x0, y0, x1, y1) in s.lines:
                self.assertTrue(-2 <= x0 < x1 <= w + 2 and -2 <= y0 < y1 <= h + 2, (seed, t))

    def test_data__tiles_match_idefics3_preprocessing(self):
        from PIL import Image
        S = 128
        for seed, size in ((1, (100, 60)), (2, (300, 120)), (3, (200, 250)), (4, (600, 90))):
            img = synth.table_sample(seed).image.resize(size)
            tiles, rows, cols, scale = data.to_tiles(img, S, 2)
            if scale != 1:
                img = img.resize((max(1, int(size[0] * scale)), max(1, int(size[1] * scale))),
                                 Image.LANCZOS)
            W, H = max(cols, 1) * S, max(rows, 1) * S
            canvas = Image.new("L", (W, H), 255)
            canvas.paste(img, (0, 0))
            frames, r2, c2 = idefics3_ref.preprocess(canvas.convert("RGB"), max(W, H), S, True)
            self.assertEqual((rows, cols), (r2, c2))
            self.assertEqual(float((frames[:, :1] - data.normalize(torch.from_numpy(tiles)))
                                   .abs().max()), 0.0)


class TestTokenizer(unittest.TestCase):
    def test_tokenizer__round_trip_and_matches_bpe_ref(self):
        tok = ov.load_tokenizer(tokenizer_path())
        with open(tokenizer_path()) as f:
            j = json.load(f)
        ref = bpe_ref.BPE(j["model"]["vocab"], [tuple(m.split(" ")) for m in j["model"]["merges"]],
                          {a["content"]: a["id"] for a in j["added_tokens"]})
        texts = [synth.random_table(i).otsl() for i in range(30)]
        texts += [ov.chat_prompt(2, 1, 16) + "<otsl><fcel>1 234,5 ± 0.3 — Zürich<nl></otsl>",
                  "  odd  spacing\n\n", "ünïcödé 数字 😀", ""]
        for t in texts:
            ids = tok.encode(t)
            self.assertEqual(ids, ref.encode(t))
            self.assertEqual(tok.decode(ids), t)
        for t in ov.ADDED:
            self.assertEqual(tok.encode(t), [tok.added[t]])
        self.assertEqual(len(tok), 640)
        self.assertEqual(j["model"]["type"], "BPE")
        self.assertEqual(j["pre_tokenizer"]["pretokenizers"][1]["type"], "ByteLevel")


class TestModel(unittest.TestCase):
    def test_model__matches_idefics3_ref(self):
        cfg = tr.load_json(TINY)
        tok = ov.load_tokenizer(tokenizer_path())
        mcfg = tr.model_config(cfg, tok)
        torch.manual_seed(0)
        m = Idefics3(mcfg).eval()
        for p in m.parameters():  # non-trivial norms and biases
            p.data.add_(torch.randn_like(p) * 0.05)
        w = {k: v.clone() for k, v in m.state_dict().items()}
        c = idefics3_ref.Config(mcfg)
        pix = torch.rand(3, 1, 128, 128) * 2 - 1
        ids = tok.encode(ov.chat_prompt(1, 2, c.image_seq_len) + "<otsl><fcel>x")
        with torch.no_grad():
            feats, _, _ = idefics3_ref.image_features(w, c, pix.repeat(1, 3, 1, 1))
            ref = idefics3_ref.text_forward(w, c, ids, feats)
            got = m(pix, torch.tensor([ids]))[0]
            # cached greedy decoding = recomputing the whole sequence
            prompt = torch.tensor([ids])
            g = ev.greedy(m, pix, prompt, 8, eos_id=-1)[0]
            gref, _, _ = idefics3_ref.greedy(w, c, ids, feats, 8)
        self.assertLess(float((ref - got).abs().max()), 1e-4)
        self.assertEqual(g, gref)


class TestReferenceConfig(unittest.TestCase):
    def test_ref__rope_parameters_and_text_model_type(self):
        C = idefics3_ref.Config
        self.assertEqual(C({"text_config": {"rope_theta": 1e4}}).rope_theta, 1e4)
        # transformers 5 writes the RoPE settings as rope_parameters; they win
        c = C({"text_config": {"rope_theta": 1e4, "rope_parameters":
                               {"rope_type": "default", "rope_theta": 1e5}}})
        self.assertEqual(c.rope_theta, 1e5)
        with self.assertRaises(ValueError):
            C({"text_config": {"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4}}})
        with self.assertRaises(ValueError):
            C({"text_config": {"model_type": "granite"}})


class TestTraining(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="quire-train-test-")
        cls.ckpt = os.path.join(cls.dir, "ckpt")
        os.makedirs(cls.ckpt)
        shutil.copy(tokenizer_path(), os.path.join(cls.ckpt, "tokenizer.json"))
        cls.log = os.path.join(cls.dir, "LOG.md")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def args(self, *extra):
        return tr.parse(["--config", TINY, "--ckpt", self.ckpt, "--device", "cpu", "--workers",
                         "0", "--log", self.log, "--print-every", "1000", "--no-eval", *extra])

    def test_training__loss_falls_resumes_and_exports(self):
        # 20 steps of stage C on a fixed tiny stream: the loss falls
        torch.manual_seed(0)
        recipe, losses = tr.run(self.args("--stage", "C", "--max-steps", "20"))
        self.assertEqual(len(losses), 20)
        self.assertLess(sum(losses[-5:]) / 5, sum(losses[:5]) / 5)
        self.assertEqual(recipe["steps"], 20)
        # checkpoint limits
        files = os.listdir(self.ckpt)
        total = sum(os.path.getsize(os.path.join(self.ckpt, f)) for f in files)
        self.assertLessEqual(total, 32 * 2 ** 20)
        self.assertTrue(all(os.path.getsize(os.path.join(self.ckpt, f)) <= 16 * 2 ** 20
                            for f in files))
        self.assertIn("recipe.json", files)
        # resume: exactly the saved tensors and counters
        cfg = tr.load_json(TINY)
        model, rec2, _, _ = tr.build(cfg, self.ckpt, torch.device("cpu"))
        saved = tr.load_weights(self.ckpt)
        for k, v in model.state_dict().items():
            self.assertTrue(torch.equal(v, saved[k]), k)
        self.assertEqual(rec2["samples"], recipe["samples"])
        self.assertEqual(rec2["steps"], 20)
        # a second run continues the counters
        recipe3, _ = tr.run(self.args("--stage", "C", "--max-steps", "2"))
        self.assertEqual(recipe3["steps"], 22)
        self.assertEqual(recipe3["runs"], 2)
        with open(self.log) as f:
            self.assertEqual(sum(1 for line in f if line.startswith("| 20")), 2)
        # export: safetensors header parses, names are transformers', no training heads
        out = os.path.join(self.dir, "export")
        export.export(self.ckpt, out, "BF16")
        with open(os.path.join(out, "model.safetensors"), "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
            size = 8 + n + max(v["data_offsets"][1] for k, v in header.items()
                               if k != "__metadata__")
        self.assertEqual(size, os.path.getsize(os.path.join(out, "model.safetensors")))
        self.assertIn("model.vision_model.embeddings.patch_embedding.weight", header)
        self.assertIn("model.connector.modality_projection.proj.weight", header)
        self.assertFalse(any(k.startswith("ctc_head") for k in header))
        for name in ("config.json", "tokenizer.json", "preprocessor_config.json"):
            self.assertTrue(os.path.exists(os.path.join(out, name)))
        res = export.check(out, self.ckpt)
        self.assertEqual(res["pixels"], 0.0)
        self.assertLess(res["module_vs_ref"], 1e-3)

    def test_training__plan_hands_over_and_logs_why(self):
        ckpt = os.path.join(self.dir, "plan")
        os.makedirs(ckpt)
        shutil.copy(tokenizer_path(), os.path.join(ckpt, "tokenizer.json"))
        log = os.path.join(self.dir, "plan-LOG.md")
        args = tr.parse(["--config", TINY, "--ckpt", ckpt, "--device", "cpu", "--workers", "0",
                         "--log", log, "--print-every", "1000", "--no-eval", "--plan",
                         "A:0,B:0", "--max-steps", "4"])
        recipe, losses = tr.run(args)
        self.assertEqual(recipe["stage"], "C")
        self.assertEqual(len(losses), 4)
        with open(log) as f:
            text = f.read()
        self.assertIn("stage A left at", text)
        self.assertIn("time plan spent, gate NOT met", text)
        self.assertEqual(tr.stage_done("A", tr.load_json(TINY), recipe, {"cer": 0.01}),
                         "gate met")

    def test_training__init_encoder_with_a_character_tokenizer(self):
        # a stage-A checkpoint with the default (BPE) tokenizer
        src = os.path.join(self.dir, "reader")
        log = os.path.join(self.dir, "init-LOG.md")
        os.makedirs(src)
        shutil.copy(tokenizer_path(), os.path.join(src, "tokenizer.json"))
        tr.run(tr.parse(["--config", TINY, "--ckpt", src, "--device", "cpu", "--workers", "0",
                         "--log", log, "--no-eval", "--stage", "A", "--max-steps", "2"]))
        reader = tr.load_weights(src)
        # a decoder-side change: character-level tokens, a fresh checkpoint from that encoder
        cfg = tr.load_json(TINY)
        cfg["tokenizer"] = {"merges": 0}
        char_cfg = os.path.join(self.dir, "char.json")
        with open(char_cfg, "w") as f:
            json.dump(cfg, f)
        dst = os.path.join(self.dir, "char")
        recipe, losses = tr.run(tr.parse(
            ["--config", char_cfg, "--ckpt", dst, "--device", "cpu", "--workers", "0", "--log",
             log, "--no-eval", "--init-encoder", src, "--max-steps", "2"]))
        self.assertEqual(recipe["stage"], "B")
        self.assertEqual(recipe["samples"]["A"], 2 * cfg["train"]["batch"]["A"])
        self.assertEqual(recipe["samples"]["B"], 2 * cfg["train"]["batch"]["B"])
        tok = ov.load_tokenizer(os.path.join(dst, "tokenizer.json"))
        self.assertEqual(len(tok.encode("Net 1,234")), len("Net 1,234"))
        self.assertEqual(len(tok), 256 + len(ov.ADDED))
        # the encoder is the reader's (frozen for the first B samples); the rest is new
        got = tr.load_weights(dst)
        enc = [k for k in reader if k.startswith("model.vision_model.")]
        self.assertTrue(enc)
        for k in enc:
            self.assertTrue(torch.equal(got[k], reader[k]), k)
        self.assertNotEqual(got["model.text_model.embed_tokens.weight"].shape,
                            reader["model.text_model.embed_tokens.weight"].shape)
        # only into a fresh checkpoint, and only from the same encoder shape
        with self.assertRaises(SystemExit):
            tr.run(tr.parse(["--config", char_cfg, "--ckpt", dst, "--device", "cpu",
                             "--workers", "0", "--no-log", "--no-eval", "--init-encoder", src,
                             "--max-steps", "1"]))
        cfg["model"]["vision_config"]["hidden_size"] = 64
        with open(char_cfg, "w") as f:
            json.dump(cfg, f)
        with self.assertRaises(SystemExit):
            tr.run(tr.parse(["--config", char_cfg, "--ckpt", os.path.join(self.dir, "c2"),
                             "--device", "cpu", "--workers", "0", "--no-log", "--no-eval",
                             "--init-encoder", src, "--max-steps", "1"]))

    def test_training__stage_a_ctc_step(self):
        cfg = tr.load_json(TINY)
        m = Idefics3(tr.model_config(cfg, ov.load_tokenizer(tokenizer_path())),
                     ctc_classes=data.CTC_CLASSES)
        items = [data.LineTiles(cfg, 0).make(s, 0) for s in range(3)]
        b = data.collate_lines(items)
        loss = tr.step_A(m, b, torch.device("cpu"))
        self.assertTrue(torch.isfinite(loss))
        loss.backward()
        self.assertIsNotNone(m.model.vision_model.embeddings.patch_embedding.weight.grad)

    def test_export__reader(self):
        # a fresh checkpoint (random weights, as training saves them) -> a reader folder
        ckpt = os.path.join(self.dir, "reader-ckpt")
        os.makedirs(ckpt)
        shutil.copy(tokenizer_path(), os.path.join(ckpt, "tokenizer.json"))
        cfg = tr.load_json(TINY)
        model, recipe, _, _ = tr.build(cfg, ckpt, torch.device("cpu"))
        tr.save_ckpt(ckpt, model, recipe)
        out = os.path.join(self.dir, "reader-out")
        export.export_reader(ckpt, out)
        with open(os.path.join(out, "config.json")) as f:
            rc = json.load(f)
        self.assertEqual(rc["model_type"], "quire_reader")
        self.assertEqual(rc["vision_config"]["num_channels"], 1)
        self.assertEqual(rc["quire_reader"]["charset"], data.CHARSET)
        self.assertEqual(rc["quire_reader"]["x_height"], 9.0)
        with open(os.path.join(out, "model.safetensors"), "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        self.assertTrue(all(v["dtype"] == "F32" for k, v in header.items()
                            if k != "__metadata__"))
        self.assertFalse(any(k.startswith("model.connector") or k.startswith("model.text")
                             for k in header))
        w = idefics3_ref.read_safetensors(os.path.join(out, "model.safetensors"))
        # a one-channel module on the reader's tensors computes the checkpoint's ctc_logits
        m, _, _, _ = tr.load_for_eval(ckpt, torch.device("cpu"))
        steps = rc["quire_reader"]["ctc_steps"]
        self.assertEqual(w["ctc_head.weight"].shape[0], steps * (len(data.CHARSET) + 1))
        m1 = Idefics3(m.cfg, ctc_classes=data.CTC_CLASSES, ctc_steps=steps)
        v = m.cfg["vision_config"]
        m1.model.vision_model.embeddings.patch_embedding = torch.nn.Conv2d(
            1, v["hidden_size"], v["patch_size"], stride=v["patch_size"])
        missing, unexpected = m1.load_state_dict(w, strict=False)
        self.assertEqual(unexpected, [])
        self.assertFalse(any(k.startswith("model.vision_model") or k.startswith("ctc_head")
                             for k in missing))
        img, _ = synth.line_tile(3, v["image_size"], 2 * v["patch_size"], (8.0, 10.0))
        pixels = data.normalize(torch.from_numpy(np.array(img))[None])
        with torch.no_grad():
            want, got = m.eval().ctc_logits(pixels), m1.eval().ctc_logits(pixels)
        self.assertLess(float((want - got).abs().max()), 1e-4)


class TestMetrics(unittest.TestCase):
    def test_teds__identity_and_known_values(self):
        t = synth.random_table(3).otsl()
        self.assertEqual(ev.teds(t, t), 1.0)
        a = "<otsl><fcel>a<nl></otsl>"
        b = "<otsl><fcel>a<fcel>b<nl><fcel>c<fcel>d<nl></otsl>"
        self.assertAlmostEqual(ev.teds(a, b), 1 - 4 / 7)
        self.assertAlmostEqual(ev.teds("<otsl><fcel>a<lcel><nl></otsl>",
                                       "<otsl><fcel>a<fcel>b<nl></otsl>"), 0.5)
        self.assertAlmostEqual(ev.teds("<otsl><fcel>abcd<nl></otsl>",
                                       "<otsl><fcel>abce<nl></otsl>"), 1 - 0.25 / 3)
        self.assertEqual(ev.teds("", b), 1 - 6 / 7)

    def test_text_cer(self):
        t = "<otsl><fcel>Net 1,234<nl></otsl>"
        self.assertEqual(ev.text_cer(t, t), 0.0)
        self.assertAlmostEqual(ev.text_cer("<otsl><fcel>Net 1,284<nl></otsl>", t), 1 / 9)
        self.assertEqual(ev.text_cer("<otsl><fcel><nl></otsl>", t), 1.0)
        self.assertEqual(ev.text_cer("<otsl><fcel>" + "x" * 40 + "<nl></otsl>", t), 1.0)

    def test_cell_exact(self):
        t = "<otsl><ched>x<ched>y<nl><fcel>1<fcel>2<nl></otsl>"
        self.assertEqual(ev.cell_exact(t, t), 1.0)
        self.assertEqual(ev.cell_exact("<otsl><ched>x<ched>y<nl><fcel>1<fcel>3<nl></otsl>", t),
                         0.75)

    def test_ctc_decode(self):
        ids = data.encode_chars("aab")
        path = [ids[0], ids[0], 0, ids[1], 0, ids[2], ids[2]]
        self.assertEqual(data.decode_ctc(path), "aab")


if __name__ == "__main__":
    unittest.main()
