"""Evaluation: calibration metrics by hand, the post-hoc sweep, validation-only selection, saved
predictions, tools/test_cls.py and the figures."""
import json
import math
import os

import numpy as np
import pytest
import torch

import iif
from iif.engine.report import (
    Predictions,
    classifier_parameters,
    evaluate_predictions,
    format_report,
    load_predictions,
    save_predictions,
    write_report,
)
from iif.models import CosineHead, LinearHead, LWSHead
from iif.posthoc import select_on_validation

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ------------------------------------------------------------------ metrics by hand

# Five samples of a 3-class problem, given as probabilities (logits = log p).
PROBS = torch.tensor([
    [0.92, 0.04, 0.04],  # y=0, predicted 0, confidence 0.92 -> bin (13/15, 14/15]
    [0.62, 0.28, 0.10],  # y=1, predicted 0 (wrong), 0.62 -> bin (9/15, 10/15]
    [0.18, 0.72, 0.10],  # y=1, predicted 1, 0.72 -> bin (10/15, 11/15]
    [0.09, 0.09, 0.82],  # y=2, predicted 2, 0.82 -> bin (12/15, 13/15]
    [0.52, 0.08, 0.40],  # y=2, predicted 0 (wrong), 0.52 -> bin (7/15, 8/15]
], dtype=torch.float64)
LABELS = torch.tensor([0, 1, 1, 2, 2])
COUNTS = [500, 50, 5]  # many / medium / few


def test_summary_of_a_three_class_example_by_hand():
    s = iif.summarize(PROBS.log(), LABELS, COUNTS)
    assert s["per_class"] == pytest.approx([100.0, 50.0, 50.0])
    assert s["top1"] == pytest.approx(60.0)
    assert s["balanced"] == pytest.approx(200 / 3)
    assert (s["many"], s["medium"], s["few"]) == pytest.approx((100.0, 50.0, 50.0))
    # Every sample alone in its bin: ECE = mean |correct - confidence|.
    ece = (0.08 + 0.62 + 0.28 + 0.18 + 0.52) / 5
    assert s["ece"] == pytest.approx(ece * 100)
    nll = -(math.log(0.92) + math.log(0.28) + math.log(0.72) + math.log(0.82) + math.log(0.40)) / 5
    assert s["nll"] == pytest.approx(nll)


def test_ece_averages_within_a_bin():
    # Two samples in the bin (13/15, 14/15]: mean confidence 0.915, accuracy 1/2.
    probs = torch.tensor([[0.92, 0.04, 0.04], [0.91, 0.05, 0.04], [0.11, 0.11, 0.78]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 2])
    b = iif.reliability_bins(probs.log(), labels)
    assert b.count[13] == 2 and b.count[11] == 1 and b.count.sum() == 3
    assert b.confidence[13] == pytest.approx(0.915) and b.accuracy[13] == pytest.approx(0.5)
    assert math.isnan(b.accuracy[0])  # empty bins are NaN, and do not count
    expected = 2 / 3 * abs(0.5 - 0.915) + 1 / 3 * abs(1.0 - 0.78)
    assert iif.expected_calibration_error(probs.log(), labels) == pytest.approx(expected * 100)
    assert len(b.edges) == 16  # 15 bins by default


def test_one_pass_metrics_equal_the_float64_definitions(monkeypatch):
    """The chunked float32 pass (max, sum of exps) equals softmax/cross-entropy in float64,
    across chunk boundaries (tiny chunks forced) and for bf16 logits."""
    import iif.metrics as M

    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(103, 37, generator=g) * 4, torch.randint(0, 37, (103,), generator=g)
    ref = logits.double()
    conf, pred = ref.softmax(1).max(1)
    correct = (pred == labels).double().numpy()
    nll = float(torch.nn.functional.cross_entropy(ref, labels))
    monkeypatch.setattr(M, "_CHUNK_ELEMENTS", 37 * 10 + 5)  # 10 rows per chunk, 11 chunks
    s = iif.summarize(logits, labels, [100] * 37)
    assert s["top1"] == pytest.approx(correct.mean() * 100)
    assert s["nll"] == pytest.approx(nll, rel=1e-6)
    assert s["ece"] == pytest.approx(M._bins(conf.numpy(), correct, 15).ece * 100, abs=1e-5)
    half = iif.negative_log_likelihood(logits.bfloat16(), labels)
    assert half == pytest.approx(float(torch.nn.functional.cross_entropy(logits.bfloat16().double(), labels)), rel=1e-5)


def test_calibration_of_confident_correct_predictions_is_perfect():
    logits = torch.eye(4) * 50
    assert iif.expected_calibration_error(logits, torch.arange(4)) == pytest.approx(0.0, abs=1e-9)
    assert iif.negative_log_likelihood(logits, torch.arange(4)) == pytest.approx(0.0, abs=1e-9)


def test_metric_errors_name_the_bad_value():
    with pytest.raises(ValueError, match=r"n_bins must be an integer >= 1, got 0"):
        iif.reliability_bins(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), n_bins=0)
    with pytest.raises(ValueError, match=r"target must be \(N,\) = \(2,\), got shape \(3,\)"):
        iif.expected_calibration_error(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="logits have 3 classes, train_counts 2"):
        iif.summarize(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), [5, 5])


def test_empty_groups_and_absent_classes_are_none_not_nan():
    s = iif.summarize(PROBS.log()[:1], LABELS[:1], COUNTS)
    assert s["per_class"][1] is None and s["medium"] is None and s["few"] is None
    json.dumps(s, allow_nan=False)  # valid JSON


# ------------------------------------------------------------------ sweep = each variant alone


def _random_problem(n=300, c=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    counts = [3000, 900, 300, 90, 30, 9][:c]
    labels = torch.randint(0, c, (n,), generator=g)
    logits = torch.randn(n, c, generator=g) + 2.0 * torch.nn.functional.one_hot(labels, c)
    return logits, labels, counts


def test_sweep_equals_evaluating_each_variant_separately():
    logits, labels, counts = _random_problem()
    weight, bias = torch.randn(6, 8), torch.randn(6)
    taus = [0.0, 0.5, 1.5]
    rows = iif.posthoc_sweep(logits, labels, counts, iif.VARIANTS, taus, taus, weight, bias)
    assert [r["method"] for r in rows] == (
        [f"post-process IIF {v}" for v in iif.VARIANTS] + [f"post-hoc logit adj. tau={t:g}" for t in taus]
        + [f"tau-norm tau={t:g}" for t in taus])
    by_name = {r["method"]: r for r in rows}
    for v in iif.VARIANTS:
        alone = iif.summarize(iif.adjust_logits(logits, iif.compute_weights(counts, v)), labels, counts)
        assert {k: by_name[f"post-process IIF {v}"][k] for k in alone} == alone
        assert by_name[f"post-process IIF {v}"]["family"] == "iif"
    for t in taus:
        alone = iif.summarize(iif.logit_adjustment(logits, counts, t), labels, counts)
        assert {k: by_name[f"post-hoc logit adj. tau={t:g}"][k] for k in alone} == alone
        alone = iif.summarize(iif.tau_normalized_logits(logits, weight, bias, t), labels, counts)
        assert {k: by_name[f"tau-norm tau={t:g}"][k] for k in alone} == alone
    # The identity the paper's Eq. 4 rests on: raw, base2 and base10 differ by a constant factor.
    assert by_name["post-process IIF raw"]["per_class"] == by_name["post-process IIF base10"]["per_class"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_sweep_applies_adjustments_chunk_by_chunk_exactly(monkeypatch, dtype):
    """IIF / logit adjustment applied inside the chunked scoring pass (no (N, C) copy) give the
    same rows, bit for bit, as materialising each adjusted tensor; 11 chunks forced."""
    import iif.metrics as M

    g = torch.Generator().manual_seed(5)
    logits = (torch.randn(103, 37, generator=g) * 3).to(dtype)
    labels = torch.randint(0, 37, (103,), generator=g)
    counts = np.maximum(1, (1000 * 0.85 ** np.arange(37)).astype(int))
    monkeypatch.setattr(M, "_CHUNK_ELEMENTS", 37 * 10 + 5)
    rows = iif.posthoc_sweep(logits, labels, counts, ["raw", "smooth", "normit"], [0.5, 1.0])
    assert len(rows) == 5
    for (adj, z), row in zip(iif.posthoc.posthoc_adjustments(logits, counts, ["raw", "smooth", "normit"],
                                                             [0.5, 1.0]), rows):
        alone = iif.summarize(z, labels, counts)
        assert row["method"] == adj.method and {k: row[k] for k in alone} == alone


def test_tau_normalized_logits_equal_the_tau_normalized_classifier():
    g = torch.Generator().manual_seed(1)
    x, w, b = torch.randn(20, 8, generator=g), torch.randn(5, 8, generator=g), torch.randn(5, generator=g)
    logits = x @ w.T + b
    for tau in (0.0, 0.5, 1.0, 2.0):
        direct = x @ iif.tau_normalize(w, tau).T
        torch.testing.assert_close(iif.tau_normalized_logits(logits, w, b, tau), direct, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"classifier weight must be \(C, D\) with C = 5, got \(4, 8\)"):
        iif.tau_normalized_logits(logits, w[:4], b, 1.0)


def test_sweep_skips_variants_a_zero_count_makes_infinite():
    logits, labels, _ = _random_problem(c=3)
    rows = iif.posthoc_sweep(logits, labels, [100, 10, 0], iif.VARIANTS, [1.0])
    # Only smooth is finite at a zero count; the log-prior is -inf, so no logit adjustment.
    assert [r["method"] for r in rows] == ["post-process IIF smooth"]


def test_sweep_errors():
    logits, labels, counts = _random_problem()
    with pytest.raises(ValueError, match=r"unknown IIF variant\(s\) \['sqrt'\]"):
        iif.posthoc_sweep(logits, labels, counts, ["sqrt"])
    with pytest.raises(ValueError, match=r"la_taus: every tau must be a finite number >= 0, got -1"):
        iif.posthoc_sweep(logits, labels, counts, la_taus=[-1])
    with pytest.raises(ValueError, match="tau-normalisation needs head_weight"):
        iif.posthoc_sweep(logits, labels, counts, tn_taus=[1.0])


# ------------------------------------------------------------------ selection on validation only


def _rows(scores):
    return [dict(method=m, family=f, balanced=b, nll=n) for m, f, b, n in scores]


def test_selection_reports_the_validation_choice_on_test():
    val = _rows([("A", "iif", 80.0, 0.5), ("B", "iif", 70.0, 0.4), ("C", "logit_adjustment", 75.0, 0.3)])
    test = _rows([("A", "iif", 60.0, 0.9), ("B", "iif", 90.0, 0.1), ("C", "logit_adjustment", 95.0, 0.2)])
    sel = {r["group"]: r for r in select_on_validation(val, test)}
    # B is best on test, but A is best on validation: A is reported, with its *test* numbers.
    assert sel["iif"]["selected"] == "A" and sel["iif"]["balanced"] == 60.0 and sel["iif"]["val_balanced"] == 80.0
    assert sel["iif"]["method"] == "iif chosen on val: A"
    assert sel["any"]["selected"] == "A"
    # Lower is better for NLL.
    sel = {r["group"]: r for r in select_on_validation(val, test, metric="nll")}
    assert sel["any"]["selected"] == "C" and sel["iif"]["selected"] == "B"


def test_selection_ignores_test_numbers_entirely():
    val = _rows([("A", "iif", 80.0, 0.5), ("B", "iif", 80.0, 0.4)])  # a tie goes to the first
    for test_scores in ((10.0, 90.0), (90.0, 10.0)):
        test = _rows([("A", "iif", test_scores[0], 1.0), ("B", "iif", test_scores[1], 1.0)])
        assert select_on_validation(val, test)[0]["selected"] == "A"


def test_selection_errors():
    val = _rows([("A", "iif", 80.0, 0.5)])
    with pytest.raises(ValueError, match=r"unknown selection metric 'f1'; expected one of \['balanced', 'top1'"):
        select_on_validation(val, val, metric="f1")
    with pytest.raises(ValueError, match=r"only on validation: \['A'\], only on test: \['B'\]"):
        select_on_validation(val, _rows([("B", "iif", 1.0, 1.0)]))


def _predictions(val_labels, test_labels, head="cosine", loss="ce", strategy="end-to-end", predict_weights=None):
    # Every image scores [1, 0, 0.5]: the head class 0 leads unless the rare class 2 is boosted.
    counts = np.array([1000, 100, 10])
    splits = {}
    for name, y in (("val", val_labels), ("test", test_labels)):
        if y is not None:
            splits[name] = (torch.tensor([[1.0, 0.0, 0.5]]).repeat(len(y), 1), torch.tensor(y))
    w = torch.randn(3, 4) if head in ("linear", "cosine") else None
    return Predictions(splits=splits, train_counts=counts, predict_weights=predict_weights, head_weight=w,
                       head_bias=torch.zeros(3) if head == "linear" else None, head_type=head,
                       meta=dict(method="softmax", loss=loss, strategy=strategy, dataset="toy"))


def test_validation_and_test_prefer_different_variants_and_validation_wins():
    # Validation holds only rare-class images (a strong boost is best), test only head-class
    # images (no boost is best): the choice must follow validation.
    report = evaluate_predictions(_predictions([2, 2, 2], [0, 0, 0]), la_taus=[0.0, 1.0, 2.0], tn_taus=())
    la = {r["method"]: r for r in report["splits"]["test"] if r["family"] == "logit_adjustment"}
    assert la["post-hoc logit adj. tau=0"]["balanced"] == 100.0 and la["post-hoc logit adj. tau=1"]["balanced"] == 0.0
    sel = {r["group"]: r for r in report["selected"]}
    assert sel["logit-adj. tau"]["selected"] == "post-hoc logit adj. tau=1"  # best on val (first of the ties)
    assert sel["logit-adj. tau"]["balanced"] == 0.0  # ... and reported with its test accuracy
    assert sel["any method"]["selected"] != "as trained (softmax)"
    assert any("test is never used to choose" in n for n in report["notes"])


def test_report_without_validation_selects_nothing_and_says_so():
    report = evaluate_predictions(_predictions(None, [0, 2]), tn_taus=())
    assert report["selected"] == []
    assert any("no validation split: nothing is selected" in n for n in report["notes"])


def test_tau_norm_rows_only_for_a_linear_head():
    linear = evaluate_predictions(_predictions([0, 2], [0, 2], head="linear"), la_taus=[], tn_taus=[0.0, 1.0])
    assert [r["method"] for r in linear["splits"]["test"] if r["family"] == "tau_norm"] == [
        "tau-norm tau=0", "tau-norm tau=1"]
    cosine = evaluate_predictions(_predictions([0, 2], [0, 2], head="cosine"), la_taus=[], tn_taus=[1.0])
    assert not [r for r in cosine["splits"]["test"] if r["family"] == "tau_norm"]
    assert any("tau-norm is the identity" in n for n in cosine["notes"])


def test_an_iif_trained_model_predicts_with_w_times_z_and_gets_no_posthoc_rows():
    w = np.array([0.1, 1.0, 5.0])  # boosts class 2: [1, 0, 0.5] -> [0.1, 0, 2.5]
    report = evaluate_predictions(_predictions([2], [2, 2], loss="iif", predict_weights=w))
    rows = report["splits"]["test"]
    assert len(rows) == 1 and rows[0]["top1"] == 100.0  # z alone would predict class 0
    assert any("would adjust twice" in n for n in report["notes"])
    forced = evaluate_predictions(_predictions([2], [2, 2], loss="iif", predict_weights=w), posthoc="always")
    assert len(forced["splits"]["test"]) > 1
    with pytest.raises(ValueError, match=r"unknown posthoc mode 'yes'; expected one of \['auto', 'always', 'never'\]"):
        evaluate_predictions(_predictions([2], [2]), posthoc="yes")


def test_classifier_parameters_reproduce_each_head():
    x = torch.randn(7, 4)
    lin = LinearHead(4, 3)
    with torch.no_grad():
        lin.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
    lws = LWSHead(lin)
    with torch.no_grad():
        lws.scale.copy_(torch.tensor([2.0, 0.5, 3.0]))
    for head in (lin, lws):
        w, b, kind = classifier_parameters(head)
        assert kind == "linear"
        torch.testing.assert_close(x @ w.T + b, head(x).detach())
    assert classifier_parameters(CosineHead(4, 3))[2] == "cosine"


# ------------------------------------------------------------------ saved predictions, outputs


def test_predictions_round_trip_and_outputs(tmp_path):
    pred = _predictions([0, 2, 1], [0, 1, 2, 2], head="linear", predict_weights=None)
    path = str(tmp_path / "p.npz")
    save_predictions(pred, path)
    back = load_predictions(path)
    assert back.meta == pred.meta and back.head_type == "linear" and back.predict_weights is None
    for split in ("val", "test"):
        torch.testing.assert_close(back.splits[split][0], pred.splits[split][0])
        assert torch.equal(back.splits[split][1], pred.splits[split][1])
    torch.testing.assert_close(back.head_weight, pred.head_weight)
    report = evaluate_predictions(back)
    paths = write_report(report, str(tmp_path / "out"))
    lines = open(paths["csv"]).read().splitlines()
    n_rows = sum(len(r) for r in report["splits"].values()) + len(report["selected"])
    assert len(lines) == 1 + n_rows and lines[0].startswith("split,method,family,param,selected_on,top1")
    assert json.load(open(paths["json"]))["splits"]["test"][0]["per_class"] is not None
    assert "chosen on the validation split" in format_report(report)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="is not a predictions file"):
        load_predictions(str(tmp_path / "other.npz"))


def test_figures_are_written_and_non_empty(tmp_path):
    pytest.importorskip("matplotlib")
    from iif.engine.figures import write_figures

    logits, labels, counts = _random_problem(c=6)
    pred = Predictions(splits={"test": (logits, labels)}, train_counts=np.array(counts), head_weight=torch.randn(6, 8),
                       head_bias=torch.zeros(6), head_type="linear",
                       meta=dict(method="softmax", loss="ce", strategy="end-to-end", dataset="toy",
                                 class_names=list("abcdef")))
    other = Predictions(splits={"test": (logits.flip(1), labels)}, train_counts=np.array(counts),
                        head_weight=torch.randn(6, 8), head_type="cosine",
                        meta=dict(method="decoupled IIF smooth", loss="iif", strategy="decoupled"))
    paths = write_figures([pred, other], str(tmp_path))
    assert [os.path.basename(p) for p in paths] == ["iif_variants.png", "per_class_accuracy.png",
                                                    "weight_norms.png", "reliability.png"]
    for p in paths:
        with open(p, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
        assert 5_000 < os.path.getsize(p) < 200_000
        csv_path = os.path.splitext(p)[0] + ".csv"
        assert len(open(csv_path).read().splitlines()) > 1
    header = open(tmp_path / "per_class_accuracy.csv").readline().strip()
    assert header == "class,train_count,softmax,post-process IIF smooth,decoupled IIF smooth"


# ------------------------------------------------------------------ tools/test_cls.py end to end


def test_test_cls_on_a_checkpoint_then_on_its_saved_logits(tmp_path, capsys):
    import sys

    sys.path.insert(0, os.path.join(REPO, "tools"))
    try:
        import test_cls
    finally:
        sys.path.pop(0)
    from iif.engine import Trainer, load_config

    cfg = load_config(os.path.join(REPO, "configs/cls/fashion_mnist_lt/softmax.py"),
                      {"data.fake": True, "data.fake_size": 40, "model.name": "cnn3", "model.head": "linear",
                       "schedule.epochs": 1, "device": "cpu", "work_dir": str(tmp_path / "run")})
    Trainer(cfg).fit()
    ckpt = str(tmp_path / "run" / "last.pth")
    assert test_cls.main(["--checkpoint", ckpt, "--la-taus", "0", "1", "--tn-taus", "0", "1"]) == 0
    out = capsys.readouterr().out
    for name in ["as trained (softmax)", "post-process IIF normit", "post-hoc logit adj. tau=1", "tau-norm tau=1",
                 "IIF variant chosen on val", "ran the model once"]:
        assert name in out, name
    eval_dir = tmp_path / "run" / "eval"
    assert {"predictions.npz", "results.csv", "results.json", "results.txt"} <= set(os.listdir(eval_dir))
    assert test_cls.main(["--checkpoint", ckpt, "--la-taus", "0", "1", "--tn-taus", "0", "1"]) == 0
    again = capsys.readouterr().out
    assert "reused saved logits" in again
    assert again.split("\n\n")[1] == out.split("\n\n")[1]  # the same test table from the saved logits
    assert test_cls.main(["--predictions", str(eval_dir / "predictions.npz"), "--select-metric", "nll"]) == 0
    assert test_cls.main(["--predictions", str(tmp_path / "missing.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
