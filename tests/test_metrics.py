import math

import numpy as np
import pytest
import torch

import iif


def test_per_class_and_shots_by_hand():
    # 3 classes, trained with 500 / 50 / 5 images -> many / medium / few.
    target = torch.tensor([0, 0, 1, 1, 1, 1, 2, 2])
    pred = torch.tensor([0, 0, 1, 0, 2, 1, 0, 2])
    acc = iif.per_class_accuracy(pred, target, 3)
    np.testing.assert_allclose(acc, [1.0, 0.5, 0.5])
    s = iif.shot_accuracy(acc, [500, 50, 5])
    assert (s.overall, s.many, s.medium, s.few) == pytest.approx((200 / 3, 100.0, 50.0, 50.0))


def test_logits_input_absent_class_and_empty_group():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    acc = iif.per_class_accuracy(logits, torch.tensor([0, 0]), 3)
    assert acc[0] == 0.5 and math.isnan(acc[1]) and math.isnan(acc[2])
    s = iif.shot_accuracy(acc, [1000, 200, 150])
    assert s.many == 50.0 and math.isnan(s.medium) and math.isnan(s.few)


def test_shot_boundaries_come_from_counts():
    acc = np.array([1.0, 0.0, 1.0, 0.0])
    s = iif.shot_accuracy(acc, [101, 100, 20, 19])  # many, medium, medium, few
    assert (s.many, s.medium, s.few) == (100.0, 50.0, 0.0)
    with pytest.raises(ValueError, match="shape"):
        iif.shot_accuracy(acc, [1, 2])
