import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import iif

COUNTS = [500, 120, 40, 9, 3]


@pytest.mark.parametrize("variant", iif.VARIANTS)
def test_adjust_keeps_sign_of_every_logit(variant):
    """Multiplicative IIF never turns a negative logit positive (paper Fig. 1).

    No class holds over K/2 of the images here, so every variant's weights are positive.
    """
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 5, generator=g) * 5
    w = iif.compute_weights([150, 120, 40, 9, 3], variant)
    assert (w > 0).all()
    out = iif.adjust_logits(logits, w)
    assert torch.equal(torch.sign(out), torch.sign(logits))
    torch.testing.assert_close(out, logits * w)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=6, max_size=6))
def test_background_untouched_and_sign_kept(vals):
    logits = torch.tensor([vals], dtype=torch.float32)  # 5 classes + background
    w = iif.compute_weights(COUNTS, "smooth")
    out = iif.adjust_logits(logits, w, background=True)
    assert out[0, -1] == logits[0, -1]
    assert torch.equal(torch.sign(out), torch.sign(logits))


def test_adjust_accepts_leading_dims_and_checks_shape():
    w = iif.compute_weights(COUNTS)
    x = torch.randn(2, 3, 5)
    torch.testing.assert_close(iif.adjust_logits(x, w), x * w)
    with pytest.raises(ValueError, match="need logits with 6 columns"):
        iif.adjust_logits(x, w, background=True)


def test_iif_post_process_raises_tail_predictions():
    # Equal logits everywhere: softmax picks class 0, IIF picks the rarest class.
    x = torch.ones(1, 5)
    assert iif.adjust_logits(x, iif.compute_weights(COUNTS)).argmax().item() == 4


def test_logit_adjustment():
    x = torch.randn(4, 5)
    prior = torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS)
    torch.testing.assert_close(iif.logit_adjustment(x, COUNTS, tau=1.5), x - 1.5 * prior.log().float())
    torch.testing.assert_close(iif.logit_adjustment(x, COUNTS, tau=0.0), x)
    with pytest.raises(ValueError, match="counts have 5 classes, logits 3"):
        iif.logit_adjustment(torch.randn(2, 3), COUNTS)


def test_tau_normalize():
    w = torch.tensor([[3.0, 4.0], [0.6, 0.8]])
    torch.testing.assert_close(iif.tau_normalize(w, 1.0), torch.tensor([[0.6, 0.8], [0.6, 0.8]]))
    torch.testing.assert_close(iif.tau_normalize(w, 0.0), w)
    half = iif.tau_normalize(w, 0.5)
    torch.testing.assert_close(half.norm(dim=1), torch.tensor([5.0 ** 0.5, 1.0 ** 0.5]))
    with pytest.raises(ValueError, match=r"\(C, D\)"):
        iif.tau_normalize(torch.ones(3), 1.0)
    with pytest.raises(ValueError, match="tau must be >= 0"):
        iif.tau_normalize(w, -1.0)


# --------------------------------------------------- detection: background at index C (issue 13)

DET = torch.tensor([[2.0, -1.0, 0.5, -3.0, 1.0, 4.0],
                    [-2.0, -2.5, -1.0, -4.0, -0.5, 1.5],
                    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])  # (3, C+1): 5 classes, background last


def test_detection_logit_adjustment_shifts_foreground_only():
    log_p = torch.tensor(COUNTS, dtype=torch.float64).div(sum(COUNTS)).log().float()
    out = iif.logit_adjustment(DET, COUNTS, tau=0.75, background=True)
    assert out.shape == DET.shape
    torch.testing.assert_close(out[:, :5], DET[:, :5] - 0.75 * log_p)
    assert torch.equal(out[:, 5], DET[:, 5])  # background untouched, bit for bit
    assert torch.equal(iif.logit_adjustment(DET, COUNTS, tau=0.0, background=True), DET)
    # every foreground logit rises against the background: log p_c < 0
    assert (out[:, :5] > DET[:, :5]).all()
    batched = iif.logit_adjustment(DET.expand(2, 3, 6), COUNTS, tau=0.75, background=True)
    torch.testing.assert_close(batched, out.expand(2, 3, 6))
    with pytest.raises(ValueError, match=r"counts of shape \(5,\) need logits with 6 columns \(5 classes plus a "
                                         r"background column\), got 5"):
        iif.logit_adjustment(DET[:, :5], COUNTS, background=True)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0])
def test_norcal_scores_equal_their_formula(gamma):
    """NorCal: p = softmax(z); foreground p_c / n_c^gamma, background p_bg kept; renormalised."""
    z = DET.double()
    n = torch.tensor(COUNTS, dtype=torch.float64)
    p = z.softmax(-1)
    s = torch.cat([p[:, :5] / n ** gamma, p[:, 5:]], dim=1)
    expected = s / s.sum(-1, keepdim=True)
    out = iif.norcal_scores(DET, COUNTS, gamma)
    assert out.shape == DET.shape and out.dtype == DET.dtype
    torch.testing.assert_close(out, expected.float())
    torch.testing.assert_close(out.sum(-1), torch.ones(3))
    # The background column's unnormalised score is p_bg itself: its ratio to any foreground score
    # is p_bg / (p_c / n_c^gamma).
    torch.testing.assert_close(out[:, 5] / out[:, 0], (p[:, 5] / (p[:, 0] / n[0] ** gamma)).float())
    if gamma == 0:
        torch.testing.assert_close(out, DET.softmax(-1))


def test_norcal_stays_finite_for_large_logits_and_errors():
    big = DET * 1000
    out = iif.norcal_scores(big, COUNTS, 1.0)
    assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match=r"counts of shape \(5,\) need logits with 6 columns"):
        iif.norcal_scores(DET[:, :5], COUNTS)
    with pytest.raises(ValueError, match="gamma must be a finite number >= 0, got -1"):
        iif.norcal_scores(DET, COUNTS, -1.0)
    with pytest.raises(ValueError, match="logits must be a floating-point tensor"):
        iif.norcal_scores(DET.long(), COUNTS)
    with pytest.raises(ValueError, match="zero training samples"):
        iif.norcal_scores(DET, [5, 4, 0, 2, 1])
