"""The benchmark runs and prints a well-formed table (no timing assertions: benchmarks are not tests),
plus the behaviour of the fast paths it led to: the CPU IIF-CE path is bit-identical to the
composite, the trainer's deferred (sync-free) loop gives the same history and the same error,
and the faster frequency counting gives the same counts."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import iif
from iif.bench import GROUPS, run_benchmarks
from iif.bench.core import Pair, Row, format_table, interleaved
from iif.bench.frequencies import write_lvis_like

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO, "tools", "benchmark.py")

# Row-name fragments every smoke run must print, one per measured row kind.
EXPECTED = [
    "iif fn fp32", "iif fp32", "iif_csl fp32", "balanced_softmax fp32", "logit_adjusted fp32", "ldam fp32",
    "focal fp32", "iif composite fp32", "denormals flushed", "(classification)", "(detection)",
    "in-memory batches", "training step with IIF-CE instead of CE", "Trainer with channels_last",
    "Trainer with AMP", "count image+instance frequencies vs json.load", "peak RSS: load + count vs load alone",
    "vs one evaluation", "vs one model evaluation", "CIFAR-10-LT stage 1",
    "decoupled stage, cache computed in the run (cold)", "decoupled stage, cache read (warm",
    "the study's decoupled stage per checkpoint",
]


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["smoke", "quick"])
def test_run_prints_a_well_formed_table(tmp_path, preset):
    """--smoke (tiny sizes) and --quick (the issue's "few minutes" mode, as a user runs it)."""
    out_json = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, TOOL, f"--{preset}", "--threads", "1", "--device", "cpu", "--json",
                           str(out_json)], capture_output=True, text=True, cwd=REPO, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    assert re.search(r"^machine: .*usable cores", text, re.M)
    assert "torch threads 1" in text and "load average" in text and "command:" in text
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("group ") and " ratio " in line)
    assert set(lines[header + 1]) == {"-"}
    rows = []
    for line in lines[header + 2:]:
        if not line.strip() or line.startswith(("skipped ", "notes:", "  [")):
            break
        rows.append(line)
    assert len(rows) >= len(EXPECTED)
    ratio_col = lines[header].index(" ratio") + len(" ratio")
    for line in rows:
        assert re.match(r"^[1-9] \w", line), line
        # every row has a numeric ratio, right-aligned under the "ratio" header
        cell = line[:ratio_col].split()[-1]
        assert re.fullmatch(r"\d+\.\d{3}|inf|n/a", cell), (cell, line)
        assert re.search(r"(yes|NO|-)$", line), line
    for name in EXPECTED:
        assert any(name in line for line in rows), f"row {name!r} missing:\n{text}"
    # group 5 is skipped with a reason where the detection extras are missing, and printed otherwise
    assert any(line.startswith("5 ") for line in rows) or re.search(r"^skipped lvis_eval: needs ", text, re.M)
    # group 6 (mAP vs scikit-learn) likewise, where scikit-learn is missing
    assert any(line.startswith("6 ") for line in rows) or re.search(r"^skipped multilabel: needs ", text, re.M)
    assert any(line.startswith("7 ") for line in rows) or re.search(r"^skipped det_analysis: needs ", text, re.M)
    data = json.loads(out_json.read_text())
    assert data["machine"]["torch_threads"] == 1 and data["machine"]["preset"] == preset
    assert all(isinstance(r["ratio"], float) for r in data["rows"])


def test_bad_flags_are_clear_errors():
    for args, msg in ([["--groups", "loss", "speed"], "unknown group(s) ['speed']"],
                      [["--threads", "0"], "--threads must be >= 1"],
                      [["--clock", "tsc"], "invalid choice: 'tsc'"],
                      [["--quick", "--smoke"], "not allowed with argument"]):
        proc = subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True, cwd=REPO)
        assert proc.returncode == 2 and msg in proc.stderr, (args, proc.stderr)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        run_benchmarks("huge")
    with pytest.raises(ValueError, match=r"unknown benchmark group\(s\) \['gpu'\]"):
        run_benchmarks("smoke", groups=["gpu"])
    with pytest.raises(ValueError, match="unknown clock"):
        run_benchmarks("smoke", groups=[], clock="tsc")
    assert GROUPS == ("loss", "trainer", "annotations", "posthoc", "lvis_eval", "multilabel", "det_analysis",
                      "recipe", "feature_cache")


def test_interleaved_alternates_and_pairs():
    calls = []
    pair = interleaved(lambda: calls.append("a"), lambda: calls.append("b"), number=2, repeats=3, warmup=1)
    assert calls == ["a", "a", "b", "b"] + ["a", "a", "b", "b"] + ["b", "b", "a", "a"] + ["a", "a", "b", "b"]
    assert len(pair.base) == len(pair.ours) == 3
    p = Pair(base=[1.0, 2.0, 4.0, 1.0], ours=[2.0, 2.0, 4.0, 3.0])
    assert p.ratio() == 1.5 and p.base_median == 1.5 and p.spread() > 0
    table = format_table([Row("1 loss", "x", "a", "b", 1e-3, 2e-3, "s", 2.0, target=("<=", 1.05))],
                         [("5 lvis", "not installed")])
    assert "2.000" in table and "NO" in table and "skipped 5 lvis: not installed" in table


# ------------------------------------------------------------------ the fast paths


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_iif_ce_path_is_bit_identical_to_the_composite(reduction, dtype):
    g = torch.Generator().manual_seed(3)
    z = torch.randn(64, 11, generator=g, dtype=dtype) * 4
    y = torch.randint(0, 11, (64,), generator=g)
    y[5] = -100  # ignore_index
    w = torch.rand(11, generator=g, dtype=dtype) * 10 + 0.5
    a, b = z.clone().requires_grad_(), z.clone().requires_grad_()
    ours = iif.iif_cross_entropy(a, y, w, reduction=reduction)
    ref = F.cross_entropy(b * w, y, reduction=reduction)
    assert torch.equal(ours, ref)
    (ga,) = torch.autograd.grad(ours.sum(), a)
    (gb,) = torch.autograd.grad(ref.sum(), b)
    assert torch.equal(ga, gb)
    mod = iif.IIFCrossEntropy(w, reduction=reduction).to(dtype)
    torch.testing.assert_close(mod(a, y), F.cross_entropy(b * mod.weights, y, reduction=reduction))


def test_cpu_iif_ce_path_higher_order_and_transforms():
    g = torch.Generator().manual_seed(4)
    z = torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 5, (6,), generator=g)
    w = torch.rand(5, generator=g, dtype=torch.float64) + 0.5
    assert torch.autograd.gradcheck(lambda x: iif.iif_cross_entropy(x, y, w), (z,))
    assert torch.autograd.gradgradcheck(lambda x: iif.iif_cross_entropy(x, y, w), (z,))
    grad = torch.func.grad(lambda x: iif.iif_cross_entropy(x, y, w))(z)
    torch.testing.assert_close(grad, torch.autograd.grad(F.cross_entropy(z * w, y), z)[0])


def _tiny_trainer(tmp_path, name):
    from iif.engine import Trainer, load_config

    opts = {"data.fake": True, "data.fake_size": 24, "data.batch_size": 8, "data.num_workers": 0,
            "schedule.epochs": 2, "device": "cpu", "model.name": "cnn3", "work_dir": str(tmp_path / name),
            "train.log_interval": 2}
    return Trainer(load_config(os.path.join(REPO, "configs", "cls", "fashion_mnist_lt", "softmax.py"), opts))


def test_deferred_loop_matches_per_iteration_loop(tmp_path):
    a, b = _tiny_trainer(tmp_path, "a"), _tiny_trainer(tmp_path, "b")
    b.sync_each_iteration = False  # the accelerator path, exercised on CPU
    for epoch in range(2):
        ra, rb = a.train_one_epoch(epoch), b.train_one_epoch(epoch)
        for key in ("train_loss", "train_acc", "lr"):
            assert ra[key] == rb[key], key
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("deferred", [False, True])
def test_non_finite_loss_names_epoch_and_iteration(tmp_path, deferred):
    t = _tiny_trainer(tmp_path, f"nan{deferred}")
    t.sync_each_iteration = not deferred
    calls = {"n": 0}
    base = t.criterion

    def criterion(logits, target):
        calls["n"] += 1
        loss = base(logits, target)
        return loss * float("nan") if calls["n"] == 2 else loss

    t.criterion = criterion
    with pytest.raises(FloatingPointError, match=r"loss is nan at epoch 1, iteration 1: lower optimizer.lr"):
        t.train_one_epoch(0)


def test_lvis_like_counts_match_the_file_and_a_plain_count(tmp_path):
    path = tmp_path / "lvis.json"
    write_lvis_like(str(path), num_images=300, num_annotations=4000, num_categories=60, seed=1)
    data = json.loads(path.read_text())
    f = iif.frequencies_from_annotations(data)  # verify=True: equal to image_count / instance_count
    assert (f.num_images, f.num_annotations, f.num_classes) == (300, 4000, 60)
    pairs = {(a["category_id"], a["image_id"]) for a in data["annotations"]}
    by_cat = {int(c): 0 for c in f.category_ids}
    for c, _ in pairs:
        by_cat[c] += 1
    np.testing.assert_array_equal(f.image_counts, [by_cat[int(c)] for c in f.category_ids])
    assert f.instance_counts.sum() == 4000
