import math

import pytest
import torch
import torch.nn.functional as F

import iif
from iif import losses as L

torch.manual_seed(0)
N, C = 12, 5
COUNTS = [400, 100, 30, 8, 2]


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(N, C, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, C, (N,), generator=g)
    return logits, target


def grad_of(fn, logits):
    x = logits.detach().clone().requires_grad_(True)
    fn(x).backward()
    return x.grad


# --------------------------------------------------------------------------- IIF-CE


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_iif_ce_with_unit_weights_is_cross_entropy(batch, reduction):
    logits, target = batch
    ones = torch.ones(C, dtype=torch.float64)
    ours = L.iif_cross_entropy(logits, target, ones, reduction=reduction)
    ref = F.cross_entropy(logits, target, reduction=reduction)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    g1 = grad_of(lambda x: L.iif_cross_entropy(x, target, ones, reduction="sum"), logits)
    g2 = grad_of(lambda x: F.cross_entropy(x, target, reduction="sum"), logits)
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)


def test_iif_ce_value(batch):
    logits, target = batch
    w = iif.compute_weights(COUNTS, "raw").double()
    z = logits * w
    manual = -(z.log_softmax(1).gather(1, target[:, None])).mean()
    torch.testing.assert_close(L.iif_cross_entropy(logits, target, w), manual)


@pytest.mark.parametrize("variant", iif.VARIANTS)
def test_gradient_is_paper_eq16(batch, variant):
    """dL/dz_i = w_i (q_i - 1[i = y]) with q = softmax(w * z)."""
    logits, target = batch
    w = iif.compute_weights(COUNTS, variant).double()
    grad = grad_of(lambda x: L.iif_cross_entropy(x, target, w, reduction="sum"), logits)
    q = torch.softmax(logits.detach() * w, dim=1)
    expected = w * (q - F.one_hot(target, C).double())
    torch.testing.assert_close(grad, expected)


def test_module_matches_function_and_from_counts(batch):
    logits, target = batch
    mod = L.IIFCrossEntropy.from_counts(COUNTS, "base10").double()
    w = iif.compute_weights(COUNTS, "base10").double()
    torch.testing.assert_close(mod(logits, target), L.iif_cross_entropy(logits, target, w))
    assert "weights" in dict(mod.named_buffers())
    assert mod.state_dict()["weights"].shape == (C,)


def test_module_adjust_is_the_eq4_output(batch):
    logits, _ = batch
    w = iif.compute_weights(COUNTS, "raw").double()
    torch.testing.assert_close(L.IIFCrossEntropy(w).double().adjust(logits), logits * w)
    assert not hasattr(L.CrossEntropy(), "adjust")


def test_background_column_weight_is_one(batch):
    logits, _ = batch
    bg_logits = torch.cat([logits, torch.randn(N, 1, dtype=torch.float64)], 1)  # (N, C+1)
    target = torch.tensor([0, 1, 2, 3, 4, 5] * 2)  # 5 = background
    w = iif.compute_weights(COUNTS, "smooth").double()
    full = torch.cat([w, torch.ones(1, dtype=torch.float64)])
    ref = F.cross_entropy(bg_logits * full, target)
    torch.testing.assert_close(L.iif_cross_entropy(bg_logits, target, w, background=True), ref)
    mod = L.IIFCrossEntropy(w, background=True).double()
    assert mod.weights[-1].item() == 1.0 and mod.weights.shape == (C + 1,)
    torch.testing.assert_close(mod(bg_logits, target), ref)


def test_shape_errors(batch):
    logits, target = batch
    with pytest.raises(ValueError, match=r"need logits with 6 columns \(5 classes plus a background column\), got 5"):
        L.iif_cross_entropy(logits, target, torch.ones(C), background=True)
    with pytest.raises(ValueError, match=r"need logits with 4 columns"):
        L.iif_cross_entropy(logits, target, torch.ones(4))
    with pytest.raises(ValueError, match=r"logits must be \(N, C\)"):
        L.iif_cross_entropy(logits[0], target, torch.ones(C))
    with pytest.raises(ValueError, match=r"target must be \(N,\).*N=12.*\(3,\)"):
        L.iif_cross_entropy(logits, target[:3], torch.ones(C))
    with pytest.raises(ValueError, match=r"unknown reduction 'avg'"):
        L.iif_cross_entropy(logits, target, torch.ones(C), reduction="avg")
    with pytest.raises(ValueError, match="holds 5 weights, logits have 4"):
        L.IIFCrossEntropy(torch.ones(C))(logits[:, :4], target.clamp(max=3))


def test_soft_targets_match_hard_for_one_hot(batch):
    logits, target = batch
    w = iif.compute_weights(COUNTS).double()
    soft = F.one_hot(target, C).double()
    torch.testing.assert_close(L.iif_cross_entropy(logits, soft, w), L.iif_cross_entropy(logits, target, w))


ALL_LOSSES = {
    "iif": lambda x, y: L.iif_cross_entropy(x, y, torch.ones(C)),
    "csl": lambda x, y: L.cost_sensitive_cross_entropy(x, y, torch.ones(C)),
    "la": lambda x, y: L.logit_adjusted_cross_entropy(x, y, COUNTS),
    "bs": lambda x, y: L.balanced_softmax_loss(x, y, COUNTS),
    "ldam": lambda x, y: L.ldam_loss(x, y, COUNTS),
    "focal": lambda x, y: L.focal_loss(x, y),
}


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_empty_batch_gives_zero_with_gradient(name):
    x = torch.zeros(0, C, requires_grad=True)
    y = torch.zeros(0, dtype=torch.long)
    loss = ALL_LOSSES[name](x, y)
    assert loss.shape == () and loss.item() == 0.0
    loss.backward()
    assert x.grad.shape == (0, C)


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_every_loss_finite_with_gradient(name, batch):
    logits, target = batch
    loss = ALL_LOSSES[name](logits.float(), target)
    assert torch.isfinite(loss)
    g = grad_of(lambda x: ALL_LOSSES[name](x, target), logits.float())
    assert torch.isfinite(g).all() and g.abs().sum() > 0


# --------------------------------------------------------------------- baselines


def test_balanced_softmax_uniform_counts_is_ce(batch):
    logits, target = batch
    torch.testing.assert_close(L.balanced_softmax_loss(logits, target, [7] * C), F.cross_entropy(logits, target))


def test_balanced_softmax_equals_logit_adjusted_tau1_and_adds_log_counts(batch):
    logits, target = batch
    bs = L.balanced_softmax_loss(logits, target, COUNTS)
    torch.testing.assert_close(bs, L.logit_adjusted_cross_entropy(logits, target, COUNTS, tau=1.0))
    log_n = torch.log(torch.tensor(COUNTS, dtype=torch.float64))
    torch.testing.assert_close(bs, F.cross_entropy(logits + log_n, target))
    torch.testing.assert_close(L.BalancedSoftmaxLoss(COUNTS).double()(logits, target), bs)


def test_logit_adjusted_tau0_is_ce(batch):
    logits, target = batch
    torch.testing.assert_close(L.logit_adjusted_cross_entropy(logits, target, COUNTS, tau=0.0),
                               F.cross_entropy(logits, target))
    mod = L.LogitAdjustedLoss(COUNTS, tau=2.0)
    prior = torch.log(torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS))
    torch.testing.assert_close(mod(logits, target), F.cross_entropy(logits + 2.0 * prior, target))


def test_focal_gamma0_is_ce_and_down_weights_easy(batch):
    logits, target = batch
    torch.testing.assert_close(L.focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target))
    per_ce = F.cross_entropy(logits, target, reduction="none")
    per_fl = L.focal_loss(logits, target, gamma=2.0, reduction="none")
    p = torch.exp(-per_ce)
    torch.testing.assert_close(per_fl, (1 - p) ** 2 * per_ce)
    soft = F.one_hot(target, C).double()
    torch.testing.assert_close(L.focal_loss(logits, soft, gamma=2.0), per_fl.mean())
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        L.FocalLoss(gamma=-1)


def test_focal_alpha(batch):
    logits, target = batch
    alpha = torch.linspace(0.5, 2.0, C, dtype=torch.float64)
    ce = F.cross_entropy(logits, target, reduction="none")
    torch.testing.assert_close(L.focal_loss(logits, target, 0.0, alpha), (alpha[target] * ce).mean())


def test_csl_unit_weights_is_ce_and_weights_per_sample(batch):
    logits, target = batch
    torch.testing.assert_close(L.cost_sensitive_cross_entropy(logits, target, torch.ones(C, dtype=torch.float64)),
                               F.cross_entropy(logits, target))
    w = iif.compute_weights(COUNTS, "smooth").double()
    per = F.cross_entropy(logits, target, reduction="none")
    torch.testing.assert_close(L.cost_sensitive_cross_entropy(logits, target, w, reduction="sum"),
                               (w[target] * per).sum())
    torch.testing.assert_close(L.cost_sensitive_cross_entropy(logits, target, w),
                               (w[target] * per).sum() / w[target].sum())
    mod = L.CostSensitiveCrossEntropy.from_counts(COUNTS, "smooth").double()
    torch.testing.assert_close(mod(logits, target), L.cost_sensitive_cross_entropy(logits, target, w))


def test_ldam_margins_and_value(batch):
    logits, target = batch
    m = L.ldam_margins(COUNTS, max_margin=0.5)
    expected = torch.tensor([n ** -0.25 for n in COUNTS])
    torch.testing.assert_close(m, expected * (0.5 / expected.max()))
    assert m.argmax().item() == C - 1 and m.max().item() == pytest.approx(0.5)
    shifted = logits - m.double()[target][:, None] * F.one_hot(target, C)
    torch.testing.assert_close(L.ldam_loss(logits, target, COUNTS, scale=30.0),
                               F.cross_entropy(30.0 * shifted, target))
    # Soft one-hot targets take the same margins.
    torch.testing.assert_close(L.ldam_loss(logits, F.one_hot(target, C).double(), COUNTS),
                               L.ldam_loss(logits, target, COUNTS))


def test_ldam_uniform_tiny_margin_is_scaled_ce(batch):
    logits, target = batch
    loss = L.ldam_loss(logits, target, [5] * C, max_margin=1e-9, scale=1.0)
    torch.testing.assert_close(loss, F.cross_entropy(logits, target))


def test_ldam_drw_schedule(batch):
    logits, target = batch
    mod = L.LDAMLoss(COUNTS, drw_epoch=3).double()
    mod.set_epoch(2)
    assert mod.weight is None
    before = mod(logits, target)
    mod.set_epoch(3)
    cb = iif.effective_number_weights(COUNTS).double()
    torch.testing.assert_close(mod.weight, cb)
    torch.testing.assert_close(mod(logits, target),
                               L.ldam_loss(logits, target, COUNTS, weight=cb))
    assert not torch.allclose(before, mod(logits, target))
    never = L.LDAMLoss(COUNTS)
    never.set_epoch(1000)
    assert never.weight is None


def test_build_loss_by_name(batch):
    logits, target = batch
    assert set(L.LOSSES) == {"ce", "iif", "iif_csl", "balanced_softmax", "logit_adjusted", "ldam", "focal",
                             "reslt"} | L.MULTILABEL_LOSSES
    for name in L.LOSSES:
        if name == "reslt":  # takes branch logits (3, N, C) and a beta: tests/test_reslt.py
            continue
        if name in L.MULTILABEL_LOSSES:  # multi-hot targets (N, C): tests/test_multilabel.py
            continue
        loss = L.build_loss(name, COUNTS).double()(logits, target)
        assert torch.isfinite(loss), name
    iif_raw = L.build_loss("iif", COUNTS, variant="raw").double()
    torch.testing.assert_close(iif_raw(logits, target),
                               L.iif_cross_entropy(logits, target, iif.compute_weights(COUNTS, "raw").double()))
    with pytest.raises(ValueError, match=r"unknown loss 'softmax'; expected one of \['asl', 'bal', 'balanced_softmax'"):
        L.build_loss("softmax", COUNTS)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['loss.gama'\] for loss 'focal'; expected some of \['alpha', 'gamma'"):
        L.build_loss("focal", COUNTS, gama=2)


def test_float32_and_dtype_follow_logits(batch):
    logits, target = batch
    w = iif.compute_weights(COUNTS)  # float32
    assert L.iif_cross_entropy(logits, target, w).dtype == torch.float64
    assert L.iif_cross_entropy(logits.float(), target, w).dtype == torch.float32
    assert math.isfinite(L.IIFCrossEntropy(w)(logits.float(), target).item())


# ------------------------------------ detection: Balanced Softmax with background at index C (issue 13)


def test_balanced_softmax_detection_shifts_foreground_only(batch):
    logits, target = batch  # (N, C): treat the last column as background, C-1 = 4 classes
    counts = COUNTS[:4]
    log_p = torch.tensor(counts, dtype=torch.float64).div(sum(counts)).log()
    shifted = torch.cat([logits[:, :4] + log_p.float().double(), logits[:, 4:]], dim=1)
    for reduction in ("mean", "sum", "none"):
        ours = L.balanced_softmax_loss(logits, target, counts, reduction=reduction, background=True)
        torch.testing.assert_close(ours, F.cross_entropy(shifted, target, reduction=reduction))
    mod = L.BalancedSoftmaxLoss(counts, background=True).double()
    torch.testing.assert_close(mod(logits, target), L.balanced_softmax_loss(logits, target, counts, background=True))
    assert "background=True" in repr(mod)
    # the background logit gets no shift: its gradient is softmax(shifted)_bg - 1[y = bg], as for plain CE on `shifted`
    g = grad_of(lambda x: L.balanced_softmax_loss(x, target, counts, reduction="sum", background=True), logits)
    q = shifted.detach().softmax(1)
    torch.testing.assert_close(g[:, 4], q[:, 4] - (target == 4).double())
    # tau=1 logit-adjusted CE is the same loss
    torch.testing.assert_close(L.logit_adjusted_cross_entropy(logits, target, counts, 1.0, background=True),
                               L.balanced_softmax_loss(logits, target, counts, background=True))


def test_balanced_softmax_detection_shape_errors(batch):
    logits, target = batch
    with pytest.raises(ValueError, match=r"counts of shape \(5,\) need logits with 6 columns \(5 classes plus a "
                                         r"background column\), got 5"):
        L.balanced_softmax_loss(logits, target, COUNTS, background=True)
    with pytest.raises(ValueError, match=r"counts of shape \(3,\) need logits with 4 columns"):
        L.BalancedSoftmaxLoss(COUNTS[:3], background=True)(logits, target)
