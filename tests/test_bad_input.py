"""Bad input at every public entry point: each case must be refused with a short message that
names the bad value (library: an exception; command-line tools: ``error: ...`` and exit code 2).

The number of cases is reported in the README; ``pytest tests/test_bad_input.py -q`` counts them.
"""
import json
import os
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

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


def _png(path, pixels, color_type: int, bit_depth: int = 16, size=None) -> None:
    """A PNG written byte by byte (Pillow cannot write 16-bit RGB): ``pixels`` ``(H, W[, C])``, or
    ``size=(W, H)`` for a header that declares that size over a tiny (truncated) image stream."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    if size is None:
        pixels = np.asarray(pixels)
        h, w = pixels.shape[:2]
        dtype = ">u2" if bit_depth == 16 else "u1"
        stream = zlib.compress(b"".join(b"\x00" + pixels[y].astype(dtype).tobytes() for y in range(h)))
    else:
        (w, h), stream = size, zlib.compress(b"\x00" * 1024)
    header = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", stream) + chunk(b"IEND", b""))


def _tree(root, classes=("a", "b", "c"), per_class=4, sizes=((8, 8),), special=None):
    """root/{train,test}/<class>/<i>.png, 8-bit RGB; image i has size sizes[i % len(sizes)];
    ``special(path)`` then rewrites root/train/<first class>/0.png."""
    for split in ("train", "test"):
        for c in classes:
            os.makedirs(os.path.join(root, split, c), exist_ok=True)
            for i in range(per_class):
                h, w = sizes[i % len(sizes)]
                Image.new("RGB", (w, h), (10, 20, 30)).save(os.path.join(root, split, c, f"{i}.png"))
    if special is not None:
        special(os.path.join(root, "train", classes[0], "0.png"))
    return str(root)


def _folder(tmp, **kw):
    from iif.data import FolderLTDataset
    return FolderLTDataset(_tree(tmp / "tree", **kw), "train", imbalance_factor=1)


def _weights_csv(tmp, rows):
    from iif.weights_io import load_weights_csv
    path = tmp / "w.csv"
    path.write_text("category_id,name,weight\n" + "".join(f"{i},c{i},{w}\n" for i, w in rows))
    return load_weights_csv(str(path))


def _split_dataset(tmp, text: str | bytes, **kw):
    from iif.data import ImageNetLT
    path = tmp / "ImageNet_LT_train.txt"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return ImageNetLT(str(tmp), "train", **kw)


def _mlt_split(tmp, text: str, **kw):
    from iif.data import VOCMLT
    path = tmp / "list.txt"
    path.write_text(text)
    return VOCMLT(str(tmp), "train", split_file=str(path), **kw)


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
    # NaN / inf weights would turn every loss and score into NaN
    ("NaN weight in the loss", lambda: iif.iif_cross_entropy(torch.zeros(2, 3), torch.zeros(2).long(),
                                                             [1.0, float("nan"), 2.0]),
     r"iif_cross_entropy: weights must be finite numbers; entries \[1\] are \[nan\]"),
    ("infinite weight in adjust_logits",
     lambda: iif.adjust_logits(torch.zeros(2, 2), torch.tensor([1.0, float("inf")])),
     r"adjust_logits: .*entries \[1\] are \[inf\]"),
    ("NaN weight in the loss module", lambda: iif.IIFCrossEntropy([float("nan"), 1.0]), r"entries \[0\] are \[nan\]"),
    ("NaN tau of logit adjustment", lambda: iif.logit_adjustment(torch.zeros(2, 3), [3, 2, 1], tau=float("nan")),
     r"tau must be a finite number >= 0, got nan"),
    ("float16 product beyond 65504", lambda: iif.adjust_logits(torch.full((1, 2), 30000.0, dtype=torch.float16),
                                                               [1.0, 4.0]),
     r"w \* z overflows float16 \(largest \|w \* z\| = 120000"),
    ("zero weight in a weights CSV", lambda tmp: _weights_csv(tmp, [(1, 2.0), (2, 0.0)]),
     r"weights must be > 0; rows \[1\] hold \[0.0\]"),
    ("negative weight in a weights CSV", lambda tmp: _weights_csv(tmp, [(1, -1.5), (2, 2.0)]),
     r"rows \[0\] hold \[-1.5\]"),
    ("duplicate ids in a weights CSV", lambda tmp: _weights_csv(tmp, [(7, 1.0), (7, 2.0), (8, 3.0)]),
     r"category ids \[7\] appear more than once"),
    # folder_lt trees
    ("one-class folder tree", lambda tmp: _folder(tmp, classes=("only",)), r"fewer than two classes.*\['only'\]"),
    ("PNG declaring 12000x12000 pixels",
     lambda tmp: _folder(tmp, special=lambda p: _png(p, None, 2, 8, (12000, 12000))),
     r"0.png' declares 12000x12000 = 144,000,000 pixels, more than the limit of 67,108,864"),
    # split lists
    ("split-list path leaving the root", lambda tmp: _split_dataset(tmp, "a/x.jpg 0\n../../etc/hostname 1\n"),
     r"ImageNet_LT_train.txt:2: path '../../etc/hostname' leaves the data root"),
    ("multi-label split-list path leaving the root",
     lambda tmp: _mlt_split(tmp, "a/x.jpg 0 3\nb/../../../etc/hostname 1\n"),
     r"list.txt:2: image path 'b/../../../etc/hostname' leaves the data root"),
    ("UTF-16 split list", lambda tmp: _split_dataset(tmp, "a/x.jpg 0\n".encode("utf-16")),
     r"ImageNet_LT_train.txt' is not UTF-8 text \(it starts with a UTF-16 byte-order mark\).*save it as UTF-8"),
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
    elif call.__code__.co_argcount == 1:  # a case that writes its files into tmp_path
        call = (lambda make: lambda: make(tmp_path))(call)
    with pytest.raises(ValueError, match=pattern):
        call()


def test_float16_logits_do_not_overflow_in_the_loss():
    """w * z beyond float16's range: the loss is computed in float32 (finite), the gradient stays float16."""
    z = torch.full((2, 3), 30000.0, dtype=torch.float16, requires_grad=True)
    w = torch.tensor([2.0, 3.0, 4.0])
    loss = iif.iif_cross_entropy(z, torch.tensor([0, 2]), w)
    expected = iif.iif_cross_entropy(z.detach().float(), torch.tensor([0, 2]), w)
    assert loss.dtype == torch.float32 and torch.isfinite(loss) and torch.equal(loss, expected)
    loss.backward()
    assert z.grad.dtype == torch.float16 and torch.isfinite(z.grad).all()
    module = iif.IIFCrossEntropy(w)
    assert torch.equal(module(z.detach(), torch.tensor([0, 2])), expected)


@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_16bit_png_is_scaled_by_its_bit_depth(tmp_path, kind):
    """16-bit PNGs (folder_lt through Pillow, split lists through torchvision) come out as uint8
    v * 255 / 65535, not clipped at 255 (a 16-bit image used to read 99.6% white)."""
    from iif.data import read_image

    if kind == "gray":
        pixels, color_type, expected = np.full((4, 4), 128 * 257, dtype=np.uint16), 0, [128, 128, 128]
    else:
        pixels = np.zeros((4, 4, 3), dtype=np.uint16)
        pixels[..., 0], pixels[..., 1], pixels[..., 2] = 65535, 100 * 257, 3 * 257
        color_type, expected = 2, [255, 100, 3]
    _png(tmp_path / "img.png", pixels, color_type)
    img = read_image(str(tmp_path / "img.png"))
    assert img.dtype == torch.uint8 and img.shape == (3, 4, 4)
    assert img[:, 0, 0].tolist() == expected and (img == img[:, :1, :1]).all()
    if kind == "gray":
        assert read_image(str(tmp_path / "img.png"), grayscale=True).unique().tolist() == [128]
    listed = _split_dataset(tmp_path, "img.png 0\n").load_image(0)
    assert listed.dtype == torch.uint8 and listed[:, 0, 0].tolist() == expected


def test_absolute_split_path_stays_under_the_root(tmp_path):
    """A leading '/' is read relative to the root (Places-LT's lists have one): /etc/hostname names
    ROOT/etc/hostname, never the system's file; allow_outside_root=True lets '..' through."""
    ds = _split_dataset(tmp_path, "/etc/hostname 0\n")
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "etc" / "hostname")):
        ds.load_image(0)
    (tmp_path / "root").mkdir()
    _png(tmp_path / "outside.png", np.zeros((2, 2), dtype=np.uint16), 0)
    (tmp_path / "root" / "ImageNet_LT_train.txt").write_text("../outside.png 0\n")
    from iif.data import ImageNetLT
    with pytest.raises(ValueError, match="leaves the data root"):
        ImageNetLT(str(tmp_path / "root"), "train")
    assert ImageNetLT(str(tmp_path / "root"), "train", allow_outside_root=True).load_image(0).shape == (3, 2, 2)


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

# A decoupled stage asking for the feature cache; and a training transform without random draws.
_CACHED = ["strategy.type=decoupled", "strategy.load_from=/nonexistent/last.pth", "strategy.feature_cache=True"]
_FIXED_VIEW = ["data.train_transform.crop_padding=None", "data.train_transform.hflip=False"]

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
    ("zero batch size", ["data.batch_size=0"], r"data.batch_size must be an integer >= 1, got 0"),
    ("negative batch size", ["data.batch_size=-4"], r"data.batch_size must be an integer >= 1, got -4"),
    ("negative seed", ["seed=-1"], r"seed must be an integer in \[0, 2\*\*32\), got -1"),
    ("negative mixup alpha", ["mixup.alpha=-1"], r"mixup.alpha must be a finite number >= 0 .*got -1"),
    ("text milestone", ["schedule.type=multistep", "schedule.milestones=[a]"],
     r"schedule.milestones must be epoch numbers \(integers >= 0\), got \['a'\]"),
    ("negative learning rate", ["optimizer.lr=-1"], r"optimizer.lr must be a finite number > 0, got -1"),
    ("negative workers", ["data.num_workers=-1"], r"data.num_workers must be an integer >= 0, got -1"),
    ("negative decay factor", ["schedule.gamma=-1"], r"schedule.gamma must be a finite number > 0, got -1"),
    ("negative warm-up", ["schedule.warmup_epochs=-1"], r"schedule.warmup_epochs must be a finite number >= 0, got -1"),
    # strategy.feature_cache (iif.engine.feature_cache): refused where the features change between epochs
    ("unknown feature cache mode", ["strategy.feature_cache=fast"],
     r"strategy.feature_cache must be False, True or 'approximate', got 'fast'"),
    ("feature cache outside the decoupled stage", ["strategy.feature_cache=True"],
     r"strategy.feature_cache=True caches the features of a frozen backbone: it needs strategy.type='decoupled'"),
    ("feature cache with BatchNorm in train mode", [*_CACHED, *_FIXED_VIEW, "strategy.bn=train"],
     r"strategy.feature_cache=True needs features that are the same every epoch, but strategy.bn='train'"),
    ("feature cache with a random transform", _CACHED,
     r"but data.train_transform draws random numbers \(crop_padding=2, hflip=True: a new view"),
    ("feature cache with mixup", [*_CACHED, *_FIXED_VIEW, "mixup.alpha=0.2"],
     r"but mixup.alpha=0.2 \(the backbone sees mixed images"),
    ("feature cache of a ResLT model", [*_CACHED, *_FIXED_VIEW, "model.reslt.enabled=True"],
     r"the ResLT model has no separable backbone and head"),
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


# Command lines whose input is bad before or while the run is built: `error: ...`, one line, exit code 2.


def _train(tmp, *options, config=SOFTMAX):
    return "train_cls", ["--config", str(config), "--work-dir", str(tmp / "run"), "--cfg-options", *SMOKE, *options]


def _folder_run(tmp, *options, **tree):
    return _train(tmp, "data.name=folder_lt", "data.fake=False", f"data.root={_tree(tmp / 'tree', **tree)}",
                  "data.kwargs.imbalance_factor=1", "data.kwargs.val_per_class=1", "data.num_workers=0", *options)


def _config_file(tmp, name, text):
    (tmp / name).write_text(text)
    return "train_cls", ["--config", str(tmp / name), "--work-dir", str(tmp / "run")]


def _truncated_jpeg_list(tmp):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp / "full.jpg", quality=90)
    data = (tmp / "full.jpg").read_bytes()
    (tmp / "cut.jpg").write_bytes(data[: len(data) // 2])
    for split in ("train", "test"):
        (tmp / f"ImageNet_LT_{split}.txt").write_text("cut.jpg 0\n")
    config = os.path.join(REPO, "configs", "cls", "imagenet_lt", "se_r50_stage1.py")
    return _train(tmp, "data.fake=False", "data.num_workers=0", f"data.root={tmp}", "model.in_chans=3", config=config)


TOOL_CASES = [
    ("option without '='", lambda tmp: _train(tmp, "optimizer.lr"), r"expected KEY=VALUE, got 'optimizer.lr'"),
    ("unbalanced brackets in an option", lambda tmp: _train(tmp, "schedule.milestones=[1,2"),
     r"--cfg-options schedule.milestones: cannot parse the value '\[1,2'"),
    ("config with a syntax error", lambda tmp: _config_file(tmp, "bad.py", "model = dict(\n"),
     r"bad.py' line 1: invalid Python syntax"),
    ("JSON config with an error", lambda tmp: _config_file(tmp, "bad.json", '{"seed": 1,'),
     r"cannot read config file '.*bad.json': JSONDecodeError"),
    ("config that raises", lambda tmp: _config_file(tmp, "zero.py", "seed = 1 // 0\n"),
     r"zero.py': ZeroDivisionError: integer division or modulo by zero"),
    ("directory as the config", lambda tmp: ("train_cls", ["--config", str(tmp)]), r"is a directory"),
    ("directory as the stage-1 checkpoint", lambda tmp: _train(tmp, "strategy.type=decoupled",
                                                               f"strategy.load_from={tmp}"),
     r"checkpoint '.*' is a directory"),
    ("directory as the checkpoint to test", lambda tmp: ("test_cls", ["--checkpoint", str(tmp)]),
     r"checkpoint '.*' is a directory"),
    ("in_chans of another image", lambda tmp: _folder_run(tmp, "model.in_chans=1"),
     r"model.in_chans=1 but dataset 'folder_lt' gives images of 3 channels; set model.in_chans=3"),
    ("images of several sizes", lambda tmp: _folder_run(tmp, "model.in_chans=3", sizes=((8, 8), (12, 12))),
     r"differ in size \('.*\.png' is (8x8|12x12), '.*\.png' is (12x12|8x8)\)"),
    ("truncated JPEG in a split list", _truncated_jpeg_list,
     r"cannot decode image '.*cut.jpg' \(listed at .*ImageNet_LT_train.txt:1\): Image is incomplete or truncated"),
    ("weights CSV into a missing directory", lambda tmp: ("iif_weights", ["--counts", "5", "3", "--out",
                                                                          str(tmp / "nodir" / "w.csv")]),
     r"directory '.*nodir' does not exist"),
]


@pytest.mark.parametrize("name,make,pattern", TOOL_CASES, ids=[c[0] for c in TOOL_CASES])
def test_tool_refuses(tmp_path, name, make, pattern, capsys):
    tool, argv = make(tmp_path)
    code = _tool(tool).main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert __import__("re").search(pattern, err), err


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
