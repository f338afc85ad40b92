"""Bad input at every public entry point: each case must be refused with a short message that
names the bad value (library: an exception; command-line tools: ``error: ...`` and exit code 2).

The number of cases is reported in the README; ``pytest tests/test_bad_input.py -q`` counts them.
"""
import json
import os

import numpy as np
import pytest
import torch

import iif
from iif.engine import load_config
from iif.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

from _cli import FMNIST, REPO, SMOKE, SOFTMAX
from _cli import tool as _tool


def _ann(**over):
    data = {"images": [{"id": 1}, {"id": 2}], "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1}, {"id": 2, "image_id": 2, "category_id": 2}]}
    data.update(over)
    return data


# ------------------------------------------------------------------- library functions

LIBRARY_CASES = [
    ("unknown variant", lambda: iif.compute_weights([10, 5], "nope"), r"unknown IIF variant 'nope'"),
    ("zero count under raw", lambda: iif.compute_weights([10, 0, 3], "raw"), r"\[1\]|class"),
    ("integer logits", lambda: iif.adjust_logits(torch.ones(2, 3, dtype=torch.long), torch.ones(3)),
     r"floating point, got dtype torch.int64"),
    ("weights of the wrong length", lambda: iif.adjust_logits(torch.ones(2, 3), [1.0, 2.0]), r"\(2,\).*3"),
    ("weights as text", lambda: iif.adjust_logits(torch.ones(2, 2), ["a", "b"]), r"could not convert|a"),
    ("target of another batch size", lambda: iif.iif_cross_entropy(torch.zeros(4, 3), torch.zeros(5).long(),
                                                                    torch.ones(3)), r"\(5,\)"),
    ("unknown reduction", lambda: iif.iif_cross_entropy(torch.zeros(4, 3), torch.zeros(4).long(), torch.ones(3),
                                                         reduction="avg"), r"'avg'"),
    ("unknown loss", lambda: iif.build_loss("nope", [3, 2]), r"unknown loss 'nope'"),
    ("misspelt loss option", lambda: iif.build_loss("iif", [3, 2], varaint="raw"), r"loss\.varaint.*variant"),
    ("truncated annotation json", "truncated", r"not valid JSON.*line 1"),
    ("annotation without category_id", lambda: iif.frequencies_from_annotations(
        _ann(annotations=[{"id": 1, "image_id": 1}])), r"annotation #0 has no 'category_id'"),
    ("float category id", lambda: iif.frequencies_from_annotations(
        _ann(annotations=[{"id": 1, "image_id": 1, "category_id": 2.7}])), r"category_id=2.7, expected an integer"),
    ("annotation of an unknown image", lambda: iif.frequencies_from_annotations(
        _ann(annotations=[{"id": 1, "image_id": 99, "category_id": 1}])), r"image ids not in 'images'.*99"),
    ("annotations as a dict", lambda: iif.frequencies_from_annotations(_ann(annotations={})),
     r"'annotations' must be a list, got dict"),
    ("annotation of an unknown category", lambda: iif.frequencies_from_annotations(
        _ann(annotations=[{"id": 1, "image_id": 1, "category_id": 7}])), r"category ids \[7\]"),
    ("duplicate ids in in_order", lambda: iif.frequencies_from_annotations(_ann()).in_order([1, 1]),
     r"\[1\] appear more than once"),
    ("duplicate category ids", lambda: iif.frequencies_from_annotations(
        _ann(categories=[{"id": 1}, {"id": 1}])), r"duplicate ids \[1\]"),
    ("json list instead of object", "list", r"holds a JSON list"),
]


@pytest.mark.parametrize("name,call,pattern", LIBRARY_CASES, ids=[c[0] for c in LIBRARY_CASES])
def test_library_refuses(tmp_path, name, call, pattern):
    if call == "truncated":
        path = tmp_path / "ann.json"
        path.write_text(json.dumps(_ann())[:40])
        call = lambda: iif.frequencies_from_annotations(str(path))  # noqa: E731
        pattern = str(path) + ".*" + pattern  # the message names the file
    elif call == "list":
        path = tmp_path / "ann.json"
        path.write_text("[1, 2]")
        call = lambda: iif.frequencies_from_annotations(str(path))  # noqa: E731
    with pytest.raises(ValueError, match=pattern):
        call()


def test_all_ignored_targets_give_zero_not_nan():
    z = torch.randn(4, 3, requires_grad=True)
    loss = iif.iif_cross_entropy(z, torch.full((4,), -100), torch.ones(3))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_weights_as_list_and_numpy_equal_tensor():
    z = torch.randn(5, 3)
    w = torch.tensor([1.0, 2.5, 4.0])
    for other in ([1.0, 2.5, 4.0], np.array([1.0, 2.5, 4.0])):
        assert torch.equal(iif.adjust_logits(z, other), iif.adjust_logits(z, w))
        t = torch.tensor([0, 1, 2, 0, 1])
        assert torch.equal(iif.iif_cross_entropy(z, t, other), iif.iif_cross_entropy(z, t, w))


# ----------------------------------------------------------------------- config keys

CONFIG_CASES = [
    ("misspelt key", ["optimizer.wd=0"], r"unknown key 'optimizer.wd'"),
    ("text for an int", ["train.max_iters=abc"], r"train.max_iters must be int or None, got 'abc'"),
    ("text for a float", ["optimizer.lr=fast"], r"optimizer.lr must be float, got 'fast'"),
    ("unknown device", ["device=gpu"], r"device='gpu' is not one of"),
    ("zero epochs", ["schedule.epochs=0"], r"schedule.epochs must be >= 1, got 0"),
    ("negative threads", ["train.threads=-1"], r"train.threads must be a positive integer"),
    ("unknown strategy", ["strategy.type=joint"], r"strategy.type='joint' is not one of"),
    ("decoupled without stage 1", ["strategy.type=decoupled"], r"needs strategy.load_from"),
    ("unknown IIF variant to evaluate", ["evaluate.variants=[nope]"], r"unknown IIF variant 'nope'"),
]


@pytest.mark.parametrize("name,options,pattern", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_config_refuses(name, options, pattern, capsys):
    code = _tool("train_cls").main(["--config", SOFTMAX, "--cfg-options", *options])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: invalid config: ") and err.count("\n") == 1, err  # one line
    assert __import__("re").search(pattern, err), err


# Errors found while building the run (after the config parsed): still one line, exit code 2.
BUILD_CASES = [
    ("misspelt loss option", ["loss.type=iif", "loss.varaint=raw"], r"\['loss.varaint'\] for loss 'iif'"),
    ("unknown dataset option", ["data.kwargs.imbalance=10"], r"\['data.kwargs.imbalance'\].*imbalance_factor"),
    ("unknown model", ["model.name=resnet9000"], r"unknown model 'resnet9000'"),
    ("unknown dataset", ["data.name=svhn_lt"], r"unknown dataset 'svhn_lt'"),
    ("dataset without a root", ["data.name=cifar10_lt", "data.fake=False"], r"data.root is required"),
    ("missing stage-1 checkpoint", ["strategy.type=decoupled", "strategy.load_from=/nonexistent/last.pth"],
     r"'/nonexistent/last.pth' does not exist"),
]


@pytest.mark.parametrize("name,options,pattern", BUILD_CASES, ids=[c[0] for c in BUILD_CASES])
def test_build_refuses(tmp_path, name, options, pattern, capsys):
    args = ["--config", SOFTMAX, "--work-dir", str(tmp_path / "run"), "--cfg-options", *SMOKE, *options]
    code = _tool("train_cls").main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert __import__("re").search(pattern, err), err


def test_debug_flag_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="loss.varaint"):
        _tool("train_cls").main(["--config", SOFTMAX, "--work-dir", str(tmp_path), "--debug", "--cfg-options",
                                 *SMOKE, "loss.type=iif", "loss.varaint=raw"])


# --------------------------------------------------------------------- data files


def test_split_file_bad_line_names_file_and_line(tmp_path, capsys):
    (tmp_path / "ImageNet_LT_train.txt").write_text("a.jpg 0\nb.jpg zero\n")
    (tmp_path / "ImageNet_LT_test.txt").write_text("c.jpg 0\n")
    config = os.path.join(REPO, "configs", "cls", "imagenet_lt", "se_r50_stage1.py")
    code = _tool("train_cls").main(["--config", config, "--work-dir", str(tmp_path / "run"), "--cfg-options",
                                    *SMOKE, "data.fake=False", "data.num_workers=0", f"data.root={tmp_path}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "ImageNet_LT_train.txt:2: label 'zero' is not an integer" in err, err


# ------------------------------------------------------------------------ checkpoints


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    """A finished 1-iteration softmax run (cnn3, cosine head) on fake Fashion-MNIST-LT."""
    wd = tmp_path_factory.mktemp("stage1")
    code = _tool("train_cls").main(["--config", SOFTMAX, "--work-dir", str(wd), "--cfg-options", *SMOKE])
    assert code == 0
    return str(wd / "last.pth")


def test_stage1_of_another_dataset_is_refused(stage1, tmp_path, capsys):
    code = _tool("train_cls").main(["--config", os.path.join(FMNIST, "decoupled_iif.py"), "--work-dir",
                                    str(tmp_path), "--cfg-options", *SMOKE, "data.name=mnist_lt",
                                    f"strategy.load_from={stage1}"])
    err = capsys.readouterr().err
    assert code == 2 and "data.name: stage 1 'fashion_mnist_lt', this config 'mnist_lt'" in err, err


def test_stage1_of_another_head_is_refused(stage1, tmp_path, capsys):
    code = _tool("train_cls").main(["--config", os.path.join(FMNIST, "decoupled_iif.py"), "--work-dir",
                                    str(tmp_path), "--cfg-options", *SMOKE, "model.head=linear",
                                    f"strategy.load_from={stage1}"])
    err = capsys.readouterr().err
    assert code == 2 and "model.head: stage 1 'cosine', this config 'linear'" in err, err


def test_checkpoint_of_another_architecture_is_one_short_line(stage1, tmp_path, capsys):
    code = _tool("test_cls").main(["--checkpoint", stage1, "--out-dir", str(tmp_path), "--config", SOFTMAX,
                                   "--cfg-options", *SMOKE[:-1], "model.name=resnet32"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "does not fit the model" in err and "missing" in err and len(err) < 600, err


def test_test_cls_missing_checkpoint(tmp_path, capsys):
    code = _tool("test_cls").main(["--checkpoint", str(tmp_path / "nope.pth")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.pth' does not exist" in err


def test_foreign_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "x.pth"
    path.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(str(path))
    torch.save({"weights": torch.ones(2)}, str(path))
    with pytest.raises(CheckpointError, match="no 'model' entry"):
        load_checkpoint(str(path))


def test_our_checkpoints_load_weights_only(tmp_path):
    path = str(tmp_path / "c.pth")
    save_checkpoint(dict(model={"w": torch.ones(2)}, epoch=3, config={"a": (1, 2), "b": None},
                         history=[{"loss": np.float64(0.5)}], class_counts=np.array([5, 3])), path)
    raw = torch.load(path, weights_only=True)  # torch's own safe loading accepts it
    assert set(raw) == {"model", "epoch", "meta_json"}
    ckpt = load_checkpoint(path)
    assert ckpt["config"] == {"a": [1, 2], "b": None} and ckpt["class_counts"] == [5, 3]
    assert ckpt["history"] == [{"loss": 0.5}] and ckpt["epoch"] == 3



def test_checkpoint_of_another_training_set_names_plain_counts(stage1, tmp_path, capsys):
    code = _tool("test_cls").main(["--checkpoint", stage1, "--out-dir", str(tmp_path), "--config", SOFTMAX,
                                   "--cfg-options", *SMOKE, "data.fake_size=40"])
    err = capsys.readouterr().err
    assert code == 2 and "was trained on class counts [2, 2," in err and "np.int64" not in err, err
