"""``folder_lt``: long-tailed views of root/{train,test}/<class>/* image folders (iif.data.folder)."""
import logging
import os
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from iif.data import FolderLTDataset, build_dataset, long_tailed_counts, read_image, select_long_tailed
from iif.engine import Trainer, load_config
from iif.engine.builders import build_datasets

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIFAR_JPEG_TAR = os.environ.get("IIF_CIFAR10_JPEG_TAR", os.path.join(REPO, "..", "shared", "data", "cifar10_jpeg.tar.gz"))
CLASSES = ("cat", "dog", "emu", "yak")  # sorted = label order
FORMATS = (".png", ".jpg", ".bmp", ".webp")


def _pixel(c: int, i: int) -> tuple[int, int, int]:
    return (10 * c + 1, i % 256, 200)


def make_tree(root, train_per_class=30, test_per_class=5, size=(8, 8), classes=CLASSES):
    """root/{train,test}/<class>/<i>.<fmt>: solid-colour images, colour (10c+1, i, 200); the
    formats cycle over PNG / JPEG / BMP / WebP (lossless formats for exact pixel checks)."""
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        for c, name in enumerate(classes):
            d = root / split / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                ext = FORMATS[i % len(FORMATS)]
                img = Image.new("RGB", (size[1], size[0]), _pixel(c, i))
                kw = {"lossless": True} if ext == ".webp" else {}
                img.save(d / f"{i:04d}{ext}", **kw)
    return root


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "imgs")


# ----------------------------------------------------------------------------- splits


def test_long_tailed_counts_and_the_cifar_lt_selection(tree):
    ds = FolderLTDataset(str(tree), "train", imbalance_factor=10)
    # n_max defaults to the smallest class (30); the exp profile of CIFAR-LT.
    assert ds.counts_per_class == long_tailed_counts(30, 4, 10) == [30, 13, 6, 3]
    assert ds.class_counts().tolist() == [30, 13, 6, 3] and len(ds) == 52
    assert ds.classes == list(CLASSES) and ds.num_classes == 4
    # The same seeded procedure as CIFAR-LT on the class-ordered targets.
    source = np.repeat(np.arange(4), 30)
    assert np.array_equal(ds.indices, select_long_tailed(source, [30, 13, 6, 3], seed=0))
    # Each kept file's name is its position inside its class (files are read in sorted order).
    for path, idx, y in zip(ds.paths, ds.indices, ds.targets):
        assert os.path.basename(os.path.dirname(path)) == CLASSES[y]
        assert int(os.path.basename(path)[:4]) == idx - 30 * y
    other = FolderLTDataset(str(tree), "train", imbalance_factor=10, seed=1)
    assert other.class_counts().tolist() == [30, 13, 6, 3] and not np.array_equal(other.indices, ds.indices)
    assert np.array_equal(FolderLTDataset(str(tree), "train", imbalance_factor=10).indices, ds.indices)


def test_val_and_test_splits(tree):
    train = FolderLTDataset(str(tree), "train", imbalance_factor=10, n_max=20)
    val = FolderLTDataset(str(tree), "val", imbalance_factor=10, n_max=20, val_per_class=4)
    test = FolderLTDataset(str(tree), "test", imbalance_factor=10)
    assert val.class_counts().tolist() == [4, 4, 4, 4]
    assert not set(val.paths) & set(train.paths)  # every class has images the subset left out
    assert val.val_overlap.tolist() == [0, 0, 0, 0]
    assert test.class_counts().tolist() == [5, 5, 5, 5] and len(test) == 20
    assert all(f"{os.sep}test{os.sep}" in p for p in test.paths)
    # With the default n_max the head keeps every image: its validation images overlap, with a warning.
    full_head = FolderLTDataset(str(tree), "val", imbalance_factor=10, val_per_class=4)
    assert full_head.val_overlap.tolist() == [4, 0, 0, 0]


def test_images_decode_exactly_in_any_format(tree):
    ds = FolderLTDataset(str(tree), "test", imbalance_factor=1)
    for k in range(8):  # PNG, JPEG, BMP, WebP for the first two classes
        img, y = ds[k]
        assert img.dtype == torch.uint8 and img.shape == (3, 8, 8)
        i = int(os.path.basename(ds.paths[k])[:4])
        expected = torch.tensor(_pixel(y, i), dtype=torch.uint8)[:, None, None].expand(3, 8, 8)
        if ds.paths[k].endswith(".jpg"):
            assert (img.int() - expected.int()).abs().max() <= 3  # lossy
        else:
            assert torch.equal(img, expected)
    pre = FolderLTDataset(str(tree), "test", imbalance_factor=1, preload=True)
    assert all(torch.equal(pre[k][0], ds[k][0]) for k in range(len(ds)))
    gray = FolderLTDataset(str(tree), "test", imbalance_factor=1, grayscale=True)
    assert gray[0][0].shape == (1, 8, 8)
    assert ds.image_size == (8, 8) and ds.square_size() == 8


def test_classes_pin_the_label_order(tree):
    order = ["yak", "emu", "dog", "cat"]
    ds = FolderLTDataset(str(tree), "test", imbalance_factor=1, classes=order)
    assert ds.classes == order
    assert all(os.path.basename(os.path.dirname(p)) == order[y] for p, y in zip(ds.paths, ds.targets))
    with pytest.raises(ValueError, match=r"classes=\['cat', 'dog'\] do not match the class folders.*'emu', 'yak'"):
        FolderLTDataset(str(tree), "train", classes=["cat", "dog"])


def test_non_image_files_are_ignored_with_a_warning(tree, caplog):
    (tree / "train" / "cat" / "notes.txt").write_text("not an image")
    (tree / "train" / "cat" / ".DS_Store").write_bytes(b"\0")
    (tree / "train" / ".ipynb_checkpoints").mkdir()  # hidden folders are not classes
    with caplog.at_level(logging.WARNING, logger="iif.data.folder"):
        ds = FolderLTDataset(str(tree), "train", imbalance_factor=10)
    assert ds.num_classes == 4 and len(ds) == 52
    assert "ignored 1 files" in caplog.text and "notes.txt" in caplog.text


# ----------------------------------------------------------------------------- bad input


def test_empty_class_is_refused(tree):
    empty = tree / "test" / "yak"
    for f in empty.iterdir():
        f.unlink()
    with pytest.raises(ValueError, match=r"empty class 'yak': .*test.*yak.* holds no image file"):
        FolderLTDataset(str(tree), "train")
    (empty / "readme.txt").write_text("x")  # a non-image file does not make it non-empty
    with pytest.raises(ValueError, match="empty class 'yak'"):
        FolderLTDataset(str(tree), "test")


@pytest.mark.parametrize("preload", [False, True])
def test_unreadable_image_is_refused_naming_the_file(tree, preload):
    bad = tree / "train" / "cat" / "0000.png"
    bad.write_bytes(b"this is not a PNG")
    # Class 0 keeps every image at the default n_max, so the bad file is in the subset.
    with pytest.raises(ValueError, match=r"unreadable image '.*train/cat/0000\.png'"):
        FolderLTDataset(str(tree), "train", imbalance_factor=10, preload=preload)
    with pytest.raises(ValueError, match=r"unreadable image '.*0000\.png'"):
        read_image(str(bad))


def test_truncated_image_fails_when_decoded_naming_the_file(tree):
    path = tree / "test" / "dog" / "0000.png"
    noise = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.8)])  # header intact, pixel data cut
    ds = FolderLTDataset(str(tree), "test", imbalance_factor=1)  # the header check passes
    k = ds.paths.index(str(path))
    with pytest.raises(ValueError, match=r"unreadable image '.*dog/0000\.png'"):
        ds[k]


def test_mismatched_class_folders_are_refused(tree):
    (tree / "test" / "yak").rename(tree / "test" / "ox")
    with pytest.raises(ValueError, match=r"class folders differ .*only in train: \['yak'\], only in test: \['ox'\]"):
        FolderLTDataset(str(tree), "train")


def test_missing_split_directory(tmp_path):
    make_tree(tmp_path / "x")
    import shutil

    shutil.rmtree(tmp_path / "x" / "test")
    with pytest.raises(FileNotFoundError, match=r"no directory .*x/test.*root/train/<class>"):
        FolderLTDataset(str(tmp_path / "x"), "train")


def test_bad_profile_and_split_fail_before_reading(tmp_path):
    with pytest.raises(ValueError, match="unknown long-tail profile"):
        FolderLTDataset(str(tmp_path / "nowhere"), "train", profile="zipf")
    with pytest.raises(ValueError, match=r"unknown split 'valid' for FolderLTDataset"):
        FolderLTDataset(str(tmp_path / "nowhere"), "valid")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['data.kwargs.imbalance'\] for dataset 'folder_lt'"):
        build_dataset("folder_lt", str(tmp_path), "train", imbalance=10)


# ----------------------------------------------------------------------------- trainer


def _opts(tmp_path, root, **extra):
    opts = {"data.name": "folder_lt", "data.root": str(root), "data.kwargs": {"imbalance_factor": 10},
            "data.train_transform": {"crop_padding": 1, "hflip": True}, "data.test_transform": {},
            "data.batch_size": 8, "data.num_workers": 0, "model.name": "cnn3", "model.in_chans": 3,
            "train.max_iters": 2, "schedule.epochs": 1, "device": "cpu", "work_dir": str(tmp_path / "run")}
    opts.update(extra)
    return opts


def test_trainer_reads_classes_and_size_from_the_folders(tmp_path, tree):
    cfg = load_config(os.path.join(REPO, "configs", "cls", "fashion_mnist_lt", "softmax.py"), _opts(tmp_path, tree))
    train, test = build_datasets(cfg)
    assert train.num_classes == 4 and train[0][0].shape == (3, 8, 8) and train[0][0].dtype == torch.float32
    assert len(test) == 20
    trainer = Trainer(cfg)
    assert trainer.num_classes == 4 and trainer.counts.tolist() == [30, 13, 6, 3]
    results = trainer.fit()
    assert results["rows"][0]["top1"] is not None and results["train_counts"] == [30, 13, 6, 3]


def test_non_square_images_need_an_image_size(tmp_path):
    root = make_tree(tmp_path / "rect", train_per_class=4, test_per_class=2, size=(8, 12))
    cfg = load_config(os.path.join(REPO, "configs", "cls", "fashion_mnist_lt", "softmax.py"),
                      _opts(tmp_path, root, **{"data.kwargs": {"imbalance_factor": 2}}))
    with pytest.raises(ValueError, match=r"not square \(first: 8x12\); set data.train_transform.image_size"):
        build_datasets(cfg)
    cfg["data"]["train_transform"] = {"image_size": 8, "resize": 8, "crop_padding": 0}
    cfg["data"]["test_transform"] = {"image_size": 8, "resize": 8}
    train, test = build_datasets(cfg)
    assert train[0][0].shape == (3, 8, 8) and test[0][0].shape == (3, 8, 8)


def test_fake_folder_data_needs_the_classes(tmp_path):
    cfg = load_config(os.path.join(REPO, "configs", "cls", "fashion_mnist_lt", "softmax.py"),
                      _opts(tmp_path, tmp_path / "none", **{"data.fake": True}))
    with pytest.raises(ValueError, match=r"data.fake=True with dataset 'folder_lt' needs data.kwargs.classes"):
        build_datasets(cfg)
    cfg["data"]["kwargs"]["classes"] = ["a", "b", "c"]
    cfg["data"]["train_transform"]["image_size"] = 16
    train, _ = build_datasets(cfg)
    assert train.num_classes == 3 and train[0][0].shape == (3, 16, 16)


# ----------------------------------------------------------------------------- the CIFAR-10 JPEG copy


@pytest.fixture(scope="module")
def cifar_jpeg(tmp_path_factory):
    root = os.environ.get("IIF_CIFAR10_JPEG")
    if root and os.path.isdir(os.path.join(root, "train")):
        return root
    if not os.path.isfile(CIFAR_JPEG_TAR):
        pytest.skip(f"the shared CIFAR-10 JPEG copy is absent ({CIFAR_JPEG_TAR}); set IIF_CIFAR10_JPEG")
    out = tmp_path_factory.mktemp("cifar10_jpeg")
    with tarfile.open(CIFAR_JPEG_TAR) as tar:
        tar.extractall(out, filter="data")  # about 4 s
    return str(out)


def test_cifar10_jpeg_copy_gives_the_cifar10_lt_subset(cifar_jpeg):
    train = FolderLTDataset(cifar_jpeg, "train")
    assert len(train) == 12406
    assert train.class_counts().tolist() == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert train.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert train.image_size == (32, 32)
    test = FolderLTDataset(cifar_jpeg, "test")
    assert len(test) == 10000 and set(test.class_counts().tolist()) == {1000}
    val = FolderLTDataset(cifar_jpeg, "val")
    assert len(val) == 200 and not set(val.paths[20:]) & set(train.paths)


def test_cifar10_jpeg_config_builds(cifar_jpeg):
    cfg = load_config(os.path.join(REPO, "configs", "cls", "cifar10_lt_jpeg", "softmax.py"),
                      {"data.root": cifar_jpeg, "data.kwargs.preload": False, "device": "cpu"})
    train, test = build_datasets(cfg)
    assert len(train) == 12406 and len(test) == 10000
    img, _ = train[0]
    assert img.shape == (3, 32, 32) and img.dtype == torch.float32
