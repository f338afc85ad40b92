"""Long-tailed multi-label recognition: sigmoid losses, AP / mAP, post-process IIF of sigmoid
logits, the VOC-MLT / COCO-MLT readers, the multi-label samplers and the offline generated set."""
import hashlib
import math
import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import iif
from iif.data import build_dataset
from iif.data.canvas import CATEGORY_NAMES, paint_canvas
from iif.data.fetch import default_data_root
from iif.data.multilabel import VOCMLT, load_class_pickle, parse_multilabel_split_file
from iif.data.samplers import MultiLabelClassAwareSampler, OccurrenceSampler, build_multilabel_sampler
from iif.data.toy_mlt import ToyMLTSpec, assign_labels, generate_toy_mlt, toy_mlt_profile
from iif.losses import LOSSES, MULTILABEL_LOSSES, build_loss


def _sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def _data(n=6, c=4, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
    y = (torch.rand(n, c, generator=g) < 0.4).to(torch.float64)
    y[0] = 0  # an image without labels
    y[1, 0] = 1
    return z, y


# ============================================================================ losses: values


def test_bce_and_iif_bce_hand_values():
    z = torch.tensor([[2.0, -1.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    want = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))) / 2
    assert iif.binary_cross_entropy(z, y).item() == pytest.approx(want, rel=1e-12)
    w = torch.tensor([0.5, 3.0])
    # BCE of sigmoid(w z): z' = (1.0, -3.0)
    want = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(-3.0))) / 2
    assert iif.iif_binary_cross_entropy(z, y, w).item() == pytest.approx(want, rel=1e-12)


def test_sigmoid_focal_hand_value():
    z = torch.tensor([[1.0, 0.5]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    p0, p1 = _sig(1.0), _sig(0.5)
    want = (0.25 * (1 - p0) ** 2 * -math.log(p0) + 0.75 * p1 ** 2 * -math.log(1 - p1)) / 2
    assert iif.sigmoid_focal_loss(z, y, gamma=2.0, alpha=0.25).item() == pytest.approx(want, rel=1e-12)


def test_asl_hand_value_in_the_papers_form():
    # Ridnik et al. Eq. 6: -[y (1-p)^g+ log p + (1-y) p_m^g- log(1 - p_m)], p_m = max(p - m, 0).
    z = torch.tensor([[0.5, 1.0, -3.5]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    m, gp, gn = 0.05, 1.0, 4.0
    terms = []
    for zi, yi in zip(z[0].tolist(), y[0].tolist()):
        p = _sig(zi)
        if yi:
            terms.append(-((1 - p) ** gp) * math.log(p))
        else:
            pm = max(p - m, 0.0)
            terms.append(-(pm ** gn) * math.log(1 - pm))
    assert terms[2] == 0.0  # p < m: the easy negative is discarded
    got = iif.asymmetric_loss(z, y, gamma_pos=gp, gamma_neg=gn, clip=m)
    assert got.item() == pytest.approx(sum(terms) / 3, rel=1e-12)


def test_bal_hand_value_from_the_issue_formula():
    z = torch.tensor([[2.0, -1.0], [0.5, 1.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    w = torch.tensor([0.3, 1.0], dtype=torch.float64)
    eps, clip, gp, gn, c = 0.1, 0.05, 1.0, 4.0, 2
    zmax = 2.0
    total = 0.0
    for i in range(2):
        for j in range(2):
            p = _sig(z[i, j].item() / zmax)
            yi = y[i, j].item()
            ys = (1 - eps) * yi + eps / c
            p_neg = min(1 - p + clip, 1.0)
            base = max(1 - p * ys - p_neg * (1 - yi), 0.0)
            focus = base ** (gp * ys + gn * (1 - yi))
            total += ((1 + w[j].item()) * ys * math.log(p) + (1 - yi) * math.log(p_neg)) * focus
    want = -total / 4
    got = iif.balanced_asymmetric_loss(z, y, w, gamma_pos=gp, gamma_neg=gn, clip=clip, label_smoothing=eps)
    assert got.item() == pytest.approx(want, rel=1e-12)


def test_db_focal_hand_value_from_the_reference_recipe():
    counts, n_img = [3, 1], 4
    z = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    kappa, lam, mu, beta, alpha, gamma, balance = 0.05, 2.0, 0.2, 10.0, 0.1, 2.0, 2.0
    bias = [-(kappa / lam) * math.log(n_img / n - 1) for n in counts]
    inv = [1 / n for n in counts]
    denom = inv[0]  # the image has class 0 only
    w = [1 / (1 + math.exp(-beta * (inv[k] / denom - mu))) + alpha for k in range(2)]
    zp = 0.5 + bias[0]  # positive: BCE(z + b, 1)
    bce_p = math.log1p(math.exp(-zp))
    loss_p = balance * (1 - math.exp(-bce_p)) ** gamma * w[0] * bce_p
    zn = lam * (-1.0 + bias[1])  # negative: BCE(lambda (z + b), 0) / lambda
    bce_n = math.log1p(math.exp(zn))
    loss_n = balance * (1 - math.exp(-bce_n)) ** gamma * (w[1] / lam) * bce_n
    got = iif.db_focal_loss(z, y, counts, n_img, gamma=gamma, alpha=alpha, beta=beta, mu=mu, neg_scale=lam,
                            init_bias=kappa, balance=balance)
    assert got.item() == pytest.approx((loss_p + loss_n) / 2, rel=1e-12)
    # The module form keeps 1/n and the bias as buffers and gives the same value.
    module = iif.DBFocalLoss(counts, n_img, gamma=gamma, alpha=alpha, beta=beta, mu=mu, neg_scale=lam,
                             init_bias=kappa, balance=balance)
    assert {"bias", "freq_inv"} <= set(module.state_dict())
    assert module(z, y).item() == pytest.approx(got.item(), rel=1e-6)


def test_db_rebalance_weight_of_an_image_without_labels_is_one_plus_alpha():
    w = iif.losses.db_rebalance_weights(torch.zeros(1, 3), torch.tensor([1.0, 0.5, 0.1]), alpha=0.1)
    assert torch.allclose(w, torch.full((1, 3), 1.1))


def test_clip_contrastive_hand_value():
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    txt = torch.tensor([[2.0, 0.0], [1.0, 1.0]], dtype=torch.float64)  # normalised inside
    r = 2 * math.sqrt(0.5)
    img_to_txt = [-math.log(math.exp(2) / (math.exp(2) + math.exp(r))), -math.log(math.exp(r) / (1 + math.exp(r)))]
    txt_to_img = [-math.log(math.exp(2) / (math.exp(2) + 1)), math.log(2)]
    want = sum(a + b for a, b in zip(img_to_txt, txt_to_img)) / 4
    assert iif.clip_contrastive_loss(img, txt, 2.0).item() == pytest.approx(want, rel=1e-12)
    scale = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)  # a learnable scale gets a gradient
    iif.CLIPContrastiveLoss()(img, txt, scale).backward()
    assert scale.grad is not None and torch.isfinite(scale.grad)
    with pytest.raises(ValueError, match=r"\(2, 2\).*\(3, 2\)"):
        iif.clip_contrastive_loss(img, torch.ones(3, 2), 2.0)


# ========================================================================= losses: identities


@pytest.mark.parametrize("gp,gn,clip", [(0.0, 4.0, 0.05), (1.0, 4.0, 0.05), (0.0, 12.0, 0.0), (2.0, 1.0, 0.2)])
def test_bal_without_weights_smoothing_and_max_normalisation_is_asl(gp, gn, clip):
    z, y = _data(seed=1)
    z1, z2 = z.clone().requires_grad_(), z.clone().requires_grad_()
    bal = iif.balanced_asymmetric_loss(z1, y, torch.zeros(4), gamma_pos=gp, gamma_neg=gn, clip=clip,
                                       label_smoothing=0.0, max_normalize=False)
    asl = iif.asymmetric_loss(z2, y, gamma_pos=gp, gamma_neg=gn, clip=clip)
    bal.backward()
    asl.backward()
    assert bal.item() == pytest.approx(asl.item(), rel=1e-12)
    assert torch.allclose(z1.grad, z2.grad, rtol=1e-12, atol=1e-15)
    # ... and with smoothing the two differ (the identity is not vacuous)
    assert iif.balanced_asymmetric_loss(z, y, None, gp, gn, clip, label_smoothing=0.1,
                                        max_normalize=False).item() != pytest.approx(asl.item(), rel=1e-6)


def test_bal_divides_by_the_batch_maximum_only_when_it_is_positive():
    z, y = _data(seed=2)
    w = iif.bal_class_weights([50, 10, 5, 1], k=0.7)
    a = iif.balanced_asymmetric_loss(z, y, w, max_normalize=True)
    b = iif.balanced_asymmetric_loss(z / z.max(), y, w, max_normalize=False)
    assert a.item() == pytest.approx(b.item(), rel=1e-12)
    neg = -z.abs() - 0.1  # a negative maximum would flip every sign: left unscaled
    assert iif.balanced_asymmetric_loss(neg, y, w).item() == pytest.approx(
        iif.balanced_asymmetric_loss(neg, y, w, max_normalize=False).item(), rel=1e-12)


def test_bal_class_weights():
    w = iif.bal_class_weights([100, 25, 4], k=0.5)  # (N / n)^k / max = (4 / n)^0.5
    assert torch.allclose(w, torch.tensor([0.2, 0.4, 1.0]))
    with pytest.raises(ValueError, match=r"classes without training images: \[1\]"):
        iif.bal_class_weights([3, 0, 1])


def test_unit_weight_iif_bce_and_gamma_zero_focal_are_bce():
    z, y = _data(seed=3)
    ref = F.binary_cross_entropy_with_logits(z, y)
    assert iif.binary_cross_entropy(z, y).item() == ref.item()
    assert iif.iif_binary_cross_entropy(z, y, torch.ones(4)).item() == pytest.approx(ref.item(), rel=1e-15)
    assert iif.sigmoid_focal_loss(z, y, gamma=0.0).item() == pytest.approx(ref.item(), rel=1e-15)
    assert iif.asymmetric_loss(z, y, gamma_pos=0.0, gamma_neg=0.0, clip=0.0).item() == pytest.approx(ref.item(),
                                                                                                      rel=1e-12)
    # DB-Focal without bias, negative scaling, focusing, balance and with flat weights (beta 0,
    # alpha 0.5: sigmoid(0) + 0.5 = 1) is BCE too.
    db = iif.db_focal_loss(z, y, [3, 2, 2, 1], 6, gamma=0.0, alpha=0.5, beta=0.0, neg_scale=1.0, init_bias=0.0,
                           balance=1.0)
    assert db.item() == pytest.approx(ref.item(), rel=1e-12)


def test_iif_bce_gradient_is_scaled_by_the_weight():
    z, y = _data(seed=4)
    w = torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    z1 = z.clone().requires_grad_()
    iif.iif_binary_cross_entropy(z1, y, w, reduction="sum").backward()
    assert torch.allclose(z1.grad, w * (torch.sigmoid(w * z) - y), rtol=1e-12)


def test_iif_bce_from_counts_uses_k_images():
    # Multi-label: 40 images carry 60 labels, so K = 40 must be given, not inferred as sum(counts).
    module = iif.IIFBinaryCrossEntropy.from_counts([30, 20, 10], "raw", num_images=40)
    assert torch.allclose(module.weights, iif.compute_weights([30, 20, 10], "raw", total=40))
    assert torch.allclose(module.weights, torch.tensor([math.log(40 / 30), math.log(2), math.log(4)]))
    assert not torch.allclose(module.weights, iif.compute_weights([30, 20, 10], "raw"))  # K = 60 would be wrong
    with pytest.raises(ValueError, match="num_images"):
        iif.IIFBinaryCrossEntropy.from_counts([30, 20, 10], "raw")
    z = torch.randn(3, 3)
    assert torch.equal(module.adjust(z), z * module.weights)


# ===================================================================== losses: robustness


def _all_losses():
    counts, k = [4, 3, 2, 1], 6
    return {
        "bce": lambda z, y: iif.binary_cross_entropy(z, y),
        "focal": lambda z, y: iif.sigmoid_focal_loss(z, y),
        "focal_gamma_half": lambda z, y: iif.sigmoid_focal_loss(z, y, gamma=0.5),
        "asl": lambda z, y: iif.asymmetric_loss(z, y),
        "asl_gamma_pos_1": lambda z, y: iif.asymmetric_loss(z, y, gamma_pos=1.0, clip=0.0),
        "bal": lambda z, y: iif.balanced_asymmetric_loss(z, y, iif.bal_class_weights(counts)),
        # gamma_neg 9.8 with smoothing: a fractional power of a base that can dip below 0
        "bal_9.8": lambda z, y: iif.balanced_asymmetric_loss(z, y, None, gamma_pos=1.0, gamma_neg=9.8,
                                                             label_smoothing=0.1, max_normalize=False),
        "db_focal": lambda z, y: iif.db_focal_loss(z, y, counts, k),
        "iif_bce": lambda z, y: iif.iif_binary_cross_entropy(z, y, torch.tensor([0.5, 1.0, 2.0, 4.0])),
    }


@pytest.mark.parametrize("name", list(_all_losses()))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_finite_where_the_sigmoid_saturates(name, dtype):
    fn = _all_losses()[name]
    # p = 1 and p = 0 exactly in floating point, for positives and negatives, plus an ordinary entry
    z = torch.tensor([[100.0, -100.0, 1e4, -1e4], [100.0, -100.0, 0.3, -0.2]], dtype=dtype, requires_grad=True)
    y = torch.tensor([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=dtype)
    loss = fn(z, y)
    loss.backward()
    assert torch.isfinite(loss), name
    assert torch.isfinite(z.grad).all(), (name, z.grad)


@pytest.mark.parametrize("name", sorted(MULTILABEL_LOSSES))
def test_registry_builds_every_multilabel_loss(name):
    assert name in LOSSES
    module = build_loss(name, [40, 12, 5, 1], num_images=50)
    z, y = _data(seed=5)
    loss = module(z.float(), y.float())
    assert loss.dim() == 0 and torch.isfinite(loss)
    if name in ("bal", "db_focal", "iif_bce"):
        assert len(module.state_dict()) > 0  # per-class vectors are buffers (saved, moved with .to())


def test_registry_needs_num_images_where_k_matters():
    for name in ("db_focal", "iif_bce"):
        with pytest.raises(ValueError, match="num_images"):
            build_loss(name, [40, 12, 5, 1])
    with pytest.raises(ValueError, match="unknown option"):
        build_loss("asl", [4, 3], num_images=5, gama_neg=3)


@pytest.mark.parametrize("name", list(_all_losses()))
def test_bad_shapes_and_targets_are_refused(name):
    fn = _all_losses()[name]
    z = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"\(3, 5\).*\(3, 4\)"):
        fn(z, torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"\(3,\).*\(3, 4\)"):
        fn(z, torch.zeros(3))
    soft = torch.full((3, 4), 0.5)
    if name.startswith(("asl", "bal", "db")):  # labels used as masks: hard 0/1 required
        with pytest.raises(ValueError, match=r"0 or 1.*entry \(0, 0\).*\(3, 4\).*0\.5"):
            fn(z, soft)
    else:
        assert torch.isfinite(fn(z, soft))
        with pytest.raises(ValueError, match=r"in \[0, 1\].*entry \(0, 0\)"):
            fn(z, soft * 3)


def test_reductions_and_empty_batches():
    z, y = _data(seed=6)
    for fn in (iif.binary_cross_entropy, iif.asymmetric_loss, iif.balanced_asymmetric_loss, iif.sigmoid_focal_loss):
        per = fn(z, y, reduction="none")
        assert per.shape == z.shape
        assert fn(z, y, reduction="sum").item() == pytest.approx(per.sum().item(), rel=1e-12)
        assert fn(z, y, reduction="mean").item() == pytest.approx(per.mean().item(), rel=1e-12)
        empty = torch.zeros(0, 4, requires_grad=True)
        out = fn(empty, torch.zeros(0, 4))
        out.backward()
        assert out.item() == 0.0 and empty.grad.shape == (0, 4)
        assert fn(empty, torch.zeros(0, 4), reduction="none").shape == (0, 4)
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        iif.binary_cross_entropy(z, y, reduction="avg")
    with pytest.raises(ValueError, match=r"counts have 3 classes"):
        iif.db_focal_loss(z, y, [3, 2, 1], 6)
    with pytest.raises(ValueError, match=r"every one of the N=6 images: \[0\]"):
        iif.db_focal_loss(z, y, [6, 2, 1, 1], 6)


def test_multilabel_counts():
    y = np.array([[1, 0, 1], [1, 1, 0], [0, 0, 0], [1, 0, 0]])
    counts, k = iif.multilabel_counts(y)
    assert counts.tolist() == [3, 1, 1] and k == 4
    counts_t, k_t = iif.multilabel_counts(torch.tensor(y, dtype=torch.bool))
    assert counts_t.tolist() == [3, 1, 1] and k_t == 4
    with pytest.raises(ValueError, match=r"entry \(1, 2\).*0\.5"):
        iif.multilabel_counts(np.array([[1, 0, 0], [0, 1, 0.5]]))
    with pytest.raises(ValueError, match=r"\(N, C\).*\(3,\)"):
        iif.multilabel_counts(np.array([1, 0, 1]))


# ============================================================================== metrics


def test_average_precision_hand_values_with_ties():
    s = np.array([[0.9, 0.1], [0.5, 0.3], [0.5, 0.3], [0.1, 0.2]])
    t = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])
    # class 0: 0.9 (+) then a tie at 0.5 (one + one -): AP = 1/2 * 1 + 1/2 * 2/3
    # class 1: a tie at 0.3 (one +, one -) then 0.2 (+): AP = 1/2 * 1/2 + 1/2 * 2/3
    ap = iif.average_precision(s, t)
    assert ap == pytest.approx([0.5 + 1 / 3, 0.25 + 1 / 3], abs=1e-15)
    # classes without positives are NaN and left out of the mean
    s3, t3 = np.c_[s, s[:, 0]], np.c_[t, np.zeros(4)]
    ap = iif.average_precision(s3, t3)
    assert np.isnan(ap[2]) and iif.mean_average_precision(s3, t3) == pytest.approx(ap[:2].mean())


def test_average_precision_equals_scikit_learn_with_ties():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    checked = 0
    for trial in range(60):
        n, c = int(rng.integers(1, 200)), int(rng.integers(1, 9))
        s = np.round(rng.normal(size=(n, c)) * 3, int(rng.integers(0, 3)))  # 0-2 decimals: many ties
        if trial % 5 == 0:
            s = -np.abs(s)
        if trial % 7 == 0:
            s[:] = 1.0  # every score tied
        if trial % 3 == 1:
            s = s.astype(np.float32)  # the fast path
        if trial % 3 == 2:
            s = torch.from_numpy(s).half()  # tensors, half precision
        t = rng.random((n, c)) < rng.random()
        ap = iif.average_precision(s, t)
        ref_s = s.float().numpy() if isinstance(s, torch.Tensor) else s
        for j in range(c):
            if not t[:, j].any():
                assert np.isnan(ap[j])
                continue
            assert ap[j] == pytest.approx(sk.average_precision_score(t[:, j], ref_s[:, j]), abs=1e-9)
            checked += 1
    assert checked > 100


def test_average_precision_is_invariant_to_positive_per_class_scaling():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(300, 6)).astype(np.float32)
    t = rng.random((300, 6)) < 0.2
    w = np.array([0.3, 1.0, 2.0, 5.0, 0.7, 1.5], dtype=np.float32)
    assert iif.average_precision(z * w, t) == pytest.approx(iif.average_precision(z, t), abs=1e-12)
    # sigmoid is monotone: probabilities and logits rank alike (in float64, where it does not saturate)
    assert iif.average_precision(torch.sigmoid(torch.from_numpy(z).double()), t) == pytest.approx(
        iif.average_precision(z, t), abs=1e-12)


def test_average_precision_refuses_bad_input():
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(4, 3\)"):
        iif.average_precision(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"finite.*entry \(1, 0\)"):
        iif.average_precision(np.array([[0.0], [np.nan]]), np.array([[1], [0]]))
    with pytest.raises(ValueError, match=r"0/1.*entry \(0, 0\) is 2"):
        iif.average_precision(np.zeros((2, 1)), np.array([[2], [0]]))


def test_groups_head_medium_tail():
    counts = [775, 100, 99, 20, 19, 4]
    assert iif.multilabel_groups(counts).tolist() == [0, 0, 1, 1, 2, 2]  # VOC-MLT: 100 images is head
    ap = np.array([0.9, 0.7, 0.5, np.nan, 0.2, 0.4])
    g = iif.group_mean_average_precision(ap, counts)
    assert g == pytest.approx({"head": 0.8, "medium": 0.5, "tail": 0.3})
    assert math.isnan(iif.group_mean_average_precision(ap, counts, thresholds=(1000, 500))["head"])


def test_multilabel_f1_hand_values():
    p = np.array([[0.9, 0.6, 0.1], [0.2, 0.7, 0.4], [0.8, 0.3, 0.2]])
    t = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0]])
    # predicted: class 0 {0, 2}: 2 tp of 2; class 1 {0, 1}: 1 tp of 2; class 2 {}: precision 0
    f = iif.multilabel_f1(p, t)
    cp, cr = (1 + 0.5 + 0) / 3, (2 / 2 + 1 / 2 + 0 / 1) / 3
    assert f["cp"] == pytest.approx(cp) and f["cr"] == pytest.approx(cr)
    assert f["cf1"] == pytest.approx(2 * cp * cr / (cp + cr))
    assert f["op"] == pytest.approx(3 / 4) and f["or"] == pytest.approx(3 / 5)


def test_summarize_multilabel_rows_are_json_ready():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(80, 4, generator=g)
    t = torch.rand(80, 4, generator=g) < 0.3
    t[:, 3] = False
    row = iif.summarize_multilabel(z, t, [150, 60, 30, 5])
    assert row["classes_scored"] == 3 and row["per_class"][3] is None and row["tail"] is None
    assert row["map"] == pytest.approx(iif.mean_average_precision(z, t) * 100)
    assert row["head"] == pytest.approx(row["per_class"][0])


def test_multilabel_posthoc_iif_every_variant_with_k_images():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(60, 3, generator=g)
    t = torch.rand(60, 3, generator=g) < 0.4
    counts, k = [35, 9, 2], 40
    seen = []
    for adj, adjusted in iif.multilabel_posthoc_adjustments(z, counts, k):
        w = iif.compute_weights(counts, adj.param, total=k)
        assert torch.equal(adjusted, z * w)
        seen.append(adj.param)
    assert seen == list(iif.VARIANTS)
    val = iif.multilabel_posthoc_sweep(z, t, counts, k)
    base = iif.mean_average_precision(z, t) * 100
    for row in val:
        w = iif.compute_weights(counts, row["param"], total=k)
        if bool((w > 0).all()):  # a positive per-class scale cannot change any class's AP
            assert row["map"] == pytest.approx(base, abs=1e-9)
    chosen = iif.posthoc.select_on_validation(val, val, metric="cf1")
    assert chosen and chosen[0]["selected"].startswith("post-process IIF")


# ================================================================================= data


def _write_png(path, seed):
    from PIL import Image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, size=(12, 10, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)


@pytest.fixture()
def voc_tree(tmp_path):
    """A small tree in VOC-MLT's layout (TailCLIP's lists, DB's pickles)."""
    root = tmp_path / "voc_mlt"
    lt = root / "longtail2012"
    lt.mkdir(parents=True)
    train = [("2008_000023", [14, 4, 19]), ("2008_000028", [6]), ("2008_000043", [8, 10, 15]),
             ("2008_000052", [6, 14]), ("2010_002361", [6, 6])]  # a repeated label counts once
    lines = [f"VOCdevkit/VOC2012/JPEGImages/{i}.jpg {' '.join(map(str, ls))} " for i, ls in train]
    (lt / "voc_lt_train.txt").write_text("\n".join(lines) + "\n\n")
    (lt / "voc_lt_test.txt").write_text("VOCdevkit/VOC2007/JPEGImages/000001.jpg 14 11\n"
                                        "VOCdevkit/VOC2007/JPEGImages/000002.jpg\n")  # no labels
    names = iif.data.multilabel.VOC_CLASSES
    (lt / "voc_labels.txt").write_bytes("\r\n".join(f"{n} {i}" + (" " if i == 1 else "")
                                                    for i, n in enumerate(names)).encode())
    for i, _ in train:
        _write_png(str(root / "VOCdevkit/VOC2012/JPEGImages" / f"{i}.jpg"), len(i))
    for i in ("000001", "000002"):
        _write_png(str(root / "VOCdevkit/VOC2007/JPEGImages" / f"{i}.jpg"), int(i))
    gt = np.zeros((5, 20), dtype=np.int64)
    for r, (_, ls) in enumerate(train):
        gt[r, ls] = 1
    freq = gt.sum(0)
    with open(lt / "class_freq.pkl", "wb") as fh:
        pickle.dump({"gt_labels": gt, "class_freq": freq, "neg_class_freq": 5 - freq}, fh, protocol=2)
    groups = iif.multilabel_groups(freq)
    split = {k: {np.int64(c) for c in np.flatnonzero(groups == g)} for g, k in enumerate(("head", "middle", "tail"))}
    with open(lt / "class_split.pkl", "wb") as fh:
        pickle.dump(split, fh, protocol=2)
    return root


def test_voc_mlt_reader_parses_the_tree(voc_tree):
    train = build_dataset("voc_mlt", str(voc_tree), "train")
    assert train.multilabel and len(train) == train.num_images == 5
    assert train.targets.shape == (5, 20) and train.targets.dtype == np.uint8
    assert np.flatnonzero(train.targets[0]).tolist() == [4, 14, 19]
    assert np.flatnonzero(train.targets[4]).tolist() == [6]
    counts = train.class_counts()
    assert counts[6] == 3 and counts[14] == 2 and counts.sum() == train.targets.sum()
    assert train.classes[0] == "aeroplane" and train.classes[1] == "bicycle" and train.classes[19] == "tvmonitor"
    assert train.class_split.tolist() == [2] * 20  # from class_split.pkl (all tail at this size)
    img, labels = train[2]
    assert img.dtype == torch.uint8 and img.shape == (3, 12, 10)
    assert labels.dtype == torch.float32 and labels.shape == (20,) and labels[[8, 10, 15]].tolist() == [1, 1, 1]
    test = VOCMLT(str(voc_tree), "test")
    assert len(test) == 2 and test.targets[1].sum() == 0
    with pytest.raises(FileNotFoundError, match="no validation list"):
        VOCMLT(str(voc_tree), "val")


@pytest.mark.parametrize("line,msg", [
    ("VOCdevkit/a.jpg 3 x 4", r"voc_lt_train\.txt:2: label 'x' is not an integer"),
    ("VOCdevkit/a.jpg 3 20", r"voc_lt_train\.txt:2: label 20 is outside \[0, 20\)"),
    ("VOCdevkit/a.jpg -1", r"voc_lt_train\.txt:2: label -1 is outside"),
])
def test_reader_refuses_a_malformed_line_naming_file_and_line(voc_tree, line, msg):
    path = voc_tree / "longtail2012" / "voc_lt_train.txt"
    lines = path.read_text().splitlines()
    lines.insert(1, line)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=msg):
        VOCMLT(str(voc_tree), "train")


def test_reader_checks_the_pickles_and_the_labels_file(voc_tree):
    lt = voc_tree / "longtail2012"
    (lt / "voc_labels.txt").write_text("aeroplane 0\nbicycle\n")
    with pytest.raises(ValueError, match=r"voc_labels\.txt:2: malformed line 'bicycle'"):
        VOCMLT(str(voc_tree), "train")
    (lt / "voc_labels.txt").unlink()
    with open(lt / "class_freq.pkl", "wb") as fh:
        pickle.dump({"class_freq": np.ones(20, dtype=np.int64)}, fh, protocol=2)
    with pytest.raises(ValueError, match=r"disagrees with .*voc_lt_train\.txt"):
        VOCMLT(str(voc_tree), "train")
    with open(lt / "class_freq.pkl", "wb") as fh:
        pickle.dump({"class_freq": os.getcwd}, fh)  # anything but arrays / sets is refused, never called
    with pytest.raises(ValueError, match="refusing to load"):
        load_class_pickle(str(lt / "class_freq.pkl"))


def test_parse_split_file_returns_line_numbers(tmp_path):
    p = tmp_path / "list.txt"
    p.write_text("\n  \na.jpg 0 2\nb.jpg\n")
    paths, targets, lines = parse_multilabel_split_file(str(p), 3)
    assert paths == ["a.jpg", "b.jpg"] and lines.tolist() == [3, 4]
    assert targets.tolist() == [[1, 0, 1], [0, 0, 0]]


# ------------------------------------------------------------------------------ samplers


def _sampler_targets():
    rng = np.random.default_rng(0)
    y = (rng.random((60, 5)) < [0.6, 0.3, 0.15, 0.05, 0.02]).astype(np.int64)
    y[0] = 0  # no label: never drawn by the occurrence sampler
    y[1, 4] = 1
    return y


def _check_frequencies(sampler, probs, draws):
    freq = np.bincount(sampler.draw(), minlength=len(probs)) / draws
    tol = 5 * np.sqrt(probs * (1 - probs) / draws) + 1e-4
    assert np.all(np.abs(freq - probs) <= tol), np.max(np.abs(freq - probs) - tol)


@pytest.mark.parametrize("k", [0.0, 0.7, 1.0, 2.0])
def test_occurrence_sampler_follows_its_weights(k):
    y = _sampler_targets()
    n, counts = len(y), y.sum(0)
    weights = np.array([(sum(n / counts[c] for c in np.flatnonzero(row))) ** k if row.any() else 0.0 for row in y])
    draws = 200_000
    s = OccurrenceSampler(y, k=k, num_samples=draws, seed=3)
    assert s.probabilities == pytest.approx(weights / weights.sum(), rel=1e-12)
    _check_frequencies(s, s.probabilities, draws)
    assert 0 not in set(s.draw().tolist())


def test_class_aware_sampler_follows_its_weights_and_equals_occurrence_at_k_1():
    y = _sampler_targets()
    counts = y.sum(0)
    probs = np.array([sum(1 / counts[c] for c in np.flatnonzero(row)) / 5 for row in y])
    draws = 200_000
    s = MultiLabelClassAwareSampler(y, num_samples=draws, seed=4)
    assert s.probabilities == pytest.approx(probs, rel=1e-12)
    _check_frequencies(s, probs, draws)
    # each class is drawn equally often (pick a class, then an image that has it)
    assert OccurrenceSampler(y, k=1.0).probabilities == pytest.approx(probs, rel=1e-12)


@pytest.mark.parametrize("mode", ["occurrence", "class_aware", "random"])
def test_multilabel_samplers_epochs_and_ranks(mode):
    y = _sampler_targets()
    a = build_multilabel_sampler(mode, y, seed=5)
    b = build_multilabel_sampler(mode, y, seed=5)
    assert list(a) == list(b) and len(a) == len(y)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    ranks = [build_multilabel_sampler(mode, y, seed=5, num_replicas=3, rank=r) for r in range(3)]
    for r in ranks:
        r.set_epoch(2)
    whole = build_multilabel_sampler(mode, y, seed=5)
    whole.set_epoch(2)
    seq = whole.draw()
    assert sorted(i for r in ranks for i in r) == sorted(seq[: 3 * (len(seq) // 3)].tolist())
    assert all(len(r) == len(y) // 3 for r in ranks)
    if mode == "random":
        assert sorted(seq.tolist()) == list(range(len(y)))


def test_multilabel_samplers_refuse_bad_input():
    with pytest.raises(ValueError, match=r"entry \(0, 1\)"):
        OccurrenceSampler(np.array([[1, 2], [0, 1]]))
    with pytest.raises(ValueError, match="no image has a label"):
        MultiLabelClassAwareSampler(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="unknown multi-label sampler mode 'rfs'"):
        build_multilabel_sampler("rfs", np.eye(2))
    with pytest.raises(ValueError, match=r"rank must be an integer in \[0, 2\)"):
        OccurrenceSampler(np.eye(2), num_replicas=2, rank=2)


# ------------------------------------------------------------------- canvases, offline set


def _fake_pools(n=8):
    return [np.random.default_rng(100 + k).integers(0, 256, size=(n, 28, 28), dtype=np.uint8) for k in range(20)]


def test_canvas_generator_still_paints_what_toy_lvis_painted():
    """The shared generator reproduces, bit for bit, the toy LVIS painter it was taken out of
    (hash recorded from the pre-refactor ``toy_lvis._Painter`` on these synthetic glyphs)."""
    pools = _fake_pools(6)
    rng = np.random.default_rng(7)
    h = hashlib.sha256()
    for cats in ([0, 5, 19], [3], [7, 7, 12, 1], [2, 9]):
        canvas, objects = paint_canvas(cats, pools, rng, 96, 128)
        h.update(canvas.tobytes())
        for c, m in objects:
            h.update(bytes([c]))
            h.update(np.packbits(m).tobytes())
    assert h.hexdigest() == "dfd67ddfdf1331641b17665f1a5fe2d92401db296ea83c3da39c0b61ff8dccad"


def test_assign_labels_places_exact_counts():
    rng = np.random.default_rng(0)
    counts = [20, 12, 5, 1]
    labels = assign_labels(counts, 25, 3, rng)
    assert len(labels) == 25 and all(1 <= len(ls) <= 3 and len(set(ls)) == len(ls) for ls in labels)
    assert np.bincount(np.concatenate(labels), minlength=4).tolist() == counts
    with pytest.raises(ValueError, match="cannot place"):
        assign_labels([30, 30], 10, 2, rng)


def test_toy_mlt_validation_glyphs_are_held_out_from_training_glyphs():
    from iif.data.toy_mlt import _split_pools

    pools = [np.arange(60, dtype=np.uint8)[:, None, None] + np.zeros((60, 28, 28), np.uint8) for _ in range(20)]
    train, held = _split_pools(pools, seed=0)
    for tr, he in zip(train, held):
        ids_tr, ids_he = set(tr[:, 0, 0].tolist()), set(he[:, 0, 0].tolist())
        assert not ids_tr & ids_he and len(ids_tr | ids_he) == 60 and len(ids_he) == 10


def test_toy_mlt_generator_is_deterministic_long_tailed_and_testable():
    spec = ToyMLTSpec(seed=3)
    pools, test_pools = _fake_pools(), _fake_pools(4)
    img, y, names = generate_toy_mlt("train", spec, pools)
    img2, y2, names2 = generate_toy_mlt("train", spec, pools)
    assert np.array_equal(img, img2) and np.array_equal(y, y2) and names == names2
    img3, y3, names3 = generate_toy_mlt("train", ToyMLTSpec(seed=4), pools)
    assert names3 != names and not np.array_equal(y3, y)
    assert sorted(names) == sorted(CATEGORY_NAMES) and img.shape == (1142, 3, 64, 64)
    counts, k = iif.multilabel_counts(y)
    assert k == 1142 and counts.max() >= 50 * counts.min()  # long-tailed
    assert np.bincount(iif.multilabel_groups(counts), minlength=3).min() >= 5  # head, medium, tail all there
    assert np.all(counts <= toy_mlt_profile(spec)) and counts.sum() >= 0.97 * sum(toy_mlt_profile(spec))
    assert 1.5 < y.sum(1).mean() < 3.0
    _, yt, _ = generate_toy_mlt("test", spec, pools, test_pools)
    assert yt.sum(0).min() >= 0.9 * spec.test_per_class  # every class: enough test positives
    _, yv, _ = generate_toy_mlt("val", spec, pools)
    assert yv.sum(0).min() >= 0.8 * spec.val_per_class
    with pytest.raises(ValueError, match="test_pools"):
        generate_toy_mlt("test", spec, pools)


@pytest.mark.skipif(not os.path.isdir(os.path.join(default_data_root(), "mnist")),
                    reason="Fashion-MNIST / MNIST not fetched (python -m iif.data.fetch all)")
def test_toy_mlt_dataset_from_the_fetched_glyphs():
    train = build_dataset("toy_mlt", default_data_root(), "train")
    test = build_dataset("toy_mlt", default_data_root(), "test")
    assert train.multilabel and len(train) == 1142 and train.classes == test.classes
    assert np.bincount(train.class_groups(), minlength=3).min() >= 5  # head, medium and tail classes
    assert test.class_counts().min() >= 45
    img, labels = train[0]
    assert img.shape == (3, 64, 64) and img.dtype == torch.uint8 and labels.shape == (20,) and labels.sum() >= 1
