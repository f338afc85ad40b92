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
