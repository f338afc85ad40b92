import logging
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import iif

# Counts 8, 4, 2, 1, 1 of K = 16 images: IF/K = 1/2, 1/4, 1/8, 1/16, 1/16.
COUNTS = [8, 4, 2, 1, 1]
# Written out by hand from the formulas in DESIGN.md section 2 (not from the library).
PINNED = {
    "raw": [math.log(2), math.log(4), math.log(8), math.log(16), math.log(16)],
    "smooth": [1.6359887667, 2.2237754316, 2.7346010554, 3.1400661635, 3.1400661635],
    "rel": [0.0, math.log(3), math.log(7), math.log(15), math.log(15)],
    "base2": [1.0, 2.0, 3.0, 4.0, 4.0],
    "base10": [0.3010299957, 0.6020599913, 0.9030899870, 1.2041199827, 1.2041199827],
    # -log(-log(1 - p)) for p = 1/2, 1/4, 1/8, 1/16
    "gombit": [0.3665129206, 1.2458993237, 2.0134186780, 2.7404930065, 2.7404930065],
    # -Phi^-1(p): the standard normal quantiles 0, 0.6745, 1.1503, 1.5341
    "normit": [0.0, 0.6744897502, 1.1503493804, 1.5341205444, 1.5341205444],
}


def test_variants_listed_in_paper_order():
    assert iif.VARIANTS == ("raw", "smooth", "rel", "base2", "base10", "gombit", "normit")
    assert set(PINNED) == set(iif.VARIANTS)


@pytest.mark.parametrize("variant", iif.VARIANTS)
def test_pinned_values(variant):
    w = iif.compute_weights(COUNTS, variant)
    assert w.dtype == torch.float32 and w.shape == (5,)
    torch.testing.assert_close(w, torch.tensor(PINNED[variant], dtype=torch.float32), atol=1e-6, rtol=1e-6)


def test_default_variant_is_smooth_and_total_defaults_to_sum():
    torch.testing.assert_close(iif.compute_weights(COUNTS), iif.compute_weights(COUNTS, "smooth", total=16))


def test_explicit_total_detection_style():
    # Detection: K = number of images, larger than any class count; raw = log(K / IF).
    w = iif.compute_weights([10, 1], "raw", total=100)
    torch.testing.assert_close(w, torch.tensor([math.log(10), math.log(100)]))


def test_accepts_numpy_tensor_and_float_counts():
    a = iif.compute_weights(np.array(COUNTS), "raw")
    b = iif.compute_weights(torch.tensor(COUNTS, dtype=torch.float64), "raw")
    c = iif.compute_weights([8.0, 4.0, 2.0, 1.0, 1.0], "raw")
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)


def test_device_argument():
    assert iif.compute_weights(COUNTS, device="cpu").device.type == "cpu"


def test_smooth_finite_at_zero():
    w = iif.compute_weights([10, 0, 5], "smooth")
    assert torch.isfinite(w).all()
    assert w[1] == pytest.approx(math.log(16 / 1) + 1)


# ---------------------------------------------------------------------------- errors


def test_unknown_variant_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown IIF variant 'log'.*'base10'.*'smooth'"):
        iif.compute_weights(COUNTS, "log")


@pytest.mark.parametrize(
    "counts, pattern",
    [
        ([3, -1, 2], r"must be >= 0; classes \[1\]"),
        ([3, float("nan"), 2], r"finite; classes \[1\]"),
        ([3, float("inf")], r"finite; classes \[1\]"),
        ([3, 2.5], r"whole numbers.*classes \[1\].*2\.5"),
        ([[1, 2], [3, 4]], r"1-D vector.*\(2, 2\)"),
        ([], r"non-empty 1-D"),
        ("abc", r"1-D sequence of numbers"),
        ([0, 0], r"sum to 0"),
    ],
)
def test_bad_counts(counts, pattern):
    with pytest.raises(ValueError, match=pattern):
        iif.compute_weights(counts, "smooth")


@pytest.mark.parametrize("variant", [v for v in iif.VARIANTS if v != "smooth"])
def test_zero_count_refused_with_class_names_and_hint(variant):
    with pytest.raises(ValueError, match=rf"{variant}.*zero frequency: \[1, 3\].*smooth"):
        iif.compute_weights([5, 0, 2, 0], variant)


def test_total_smaller_than_a_count():
    with pytest.raises(ValueError, match=r"K=5\) is smaller than the counts of classes \[0\]"):
        iif.compute_weights([10, 2], "raw", total=5)


@pytest.mark.parametrize("total", [0, -3, float("nan"), "many"])
def test_bad_total(total):
    with pytest.raises(ValueError, match="total"):
        iif.compute_weights([1, 2], "raw", total=total)


@pytest.mark.parametrize("variant", ["rel", "gombit", "normit"])
def test_count_equal_to_total_refused_where_infinite(variant):
    with pytest.raises(ValueError, match=r"equals K=10.*\[0\]"):
        iif.compute_weights([10, 1], variant, total=10)


@pytest.mark.parametrize("variant", ["rel", "normit"])
def test_sign_flip_warns(variant, caplog):
    with caplog.at_level(logging.WARNING, logger="iif.weights"):
        w = iif.compute_weights([90, 5, 5], variant)
    assert w[0] < 0
    assert "non-positive weights to classes [0]" in caplog.text


def test_no_warning_for_balanced_frequencies(caplog):
    with caplog.at_level(logging.WARNING, logger="iif.weights"):
        iif.compute_weights([25, 20, 15], "normit")
    assert caplog.text == ""


# ------------------------------------------------------------------------ properties

counts_strategy = st.lists(st.integers(min_value=1, max_value=10_000), min_size=2, max_size=30)


@settings(max_examples=60, deadline=None)
@given(counts=counts_strategy, variant=st.sampled_from(iif.VARIANTS), data=st.data())
def test_strictly_decreasing_in_frequency(counts, variant, data):
    """More frequent class -> strictly smaller weight, for every variant (K held fixed)."""
    k = sum(counts) + data.draw(st.integers(min_value=1, max_value=1000))  # keeps IF < K
    f = np.array(counts, dtype=np.float64)
    w = iif.compute_weights(f, variant, total=k).double().numpy()
    order = np.argsort(f, kind="stable")
    fs, ws = f[order], w[order]
    strictly_more = fs[1:] > fs[:-1]
    # float32 may tie two weights whose counts differ by 1 in 10,000; compare in the
    # float64 formula where the float32 result is equal.
    assert np.all(ws[1:][strictly_more] <= ws[:-1][strictly_more])
    w64 = iif.weights._FUNCS[variant](fs, float(k))
    assert np.all(np.diff(w64)[strictly_more] < 0)


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(min_value=0, max_value=100_000), min_size=1, max_size=50).filter(lambda c: sum(c) > 0))
def test_smooth_at_least_one_and_finite(counts):
    w = iif.compute_weights(counts, "smooth")
    assert torch.isfinite(w).all()
    assert (w >= 1.0).all()


# ----------------------------------------------------------------------- class_counts


def test_class_counts():
    np.testing.assert_array_equal(iif.class_counts([0, 2, 2, 1, 2], num_classes=5), [1, 1, 3, 0, 0])
    np.testing.assert_array_equal(iif.class_counts(torch.tensor([1, 1, 0])), [1, 2])


@pytest.mark.parametrize(
    "labels, n, pattern",
    [([0, -1], 3, ">= 0, found -1"), ([0, 5], 3, "label 5 is out of range for num_classes=3"),
     ([[0, 1]], 2, "1-D"), ([0.5], 2, "integer class indices")],
)
def test_class_counts_errors(labels, n, pattern):
    with pytest.raises(ValueError, match=pattern):
        iif.class_counts(labels, n)


def test_effective_number_weights():
    w = iif.effective_number_weights([100, 10, 1], beta=0.9)
    raw = np.array([(1 - 0.9) / (1 - 0.9 ** n) for n in (100, 10, 1)])
    np.testing.assert_allclose(w.numpy(), raw / raw.sum() * 3, rtol=1e-6)
    torch.testing.assert_close(iif.effective_number_weights([5, 1], beta=0.0), torch.ones(2))
    with pytest.raises(ValueError, match="beta"):
        iif.effective_number_weights([5, 1], beta=1.0)


def test_log_prior():
    torch.testing.assert_close(iif.log_prior([3, 1]), torch.log(torch.tensor([0.75, 0.25])))
    with pytest.raises(ValueError, match=r"zero training samples: \[1\]"):
        iif.log_prior([3, 0])
