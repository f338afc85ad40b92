"""Issue 18, items 1-3, 10, 13, 14 (their file paths) and 17: no file a user is handed runs code or
exhausts memory.

Each payload here would act if loaded the unsafe way: a pickle whose reduce creates a marker file,
a TorchScript archive whose ``__setstate__`` overwrites a marker file's bytes, a deflated ``.pth`` /
``.npz`` that inflates ~1000 times. Every case must leave the marker untouched and end in one
``error: ...`` line with exit code 2 (tools) or a ``ValueError`` naming the file (library); a bad
cached ``predictions.npz`` is recomputed with a warning instead.
"""
import builtins
import importlib
import io
import json
import logging
import os
import pickle
import zipfile
from typing import Tuple

import numpy as np
import pytest
import torch

from iif.data.cifar import CIFAR10LT, load_cifar_pickle
from iif.engine.checkpoint import CheckpointError, load_checkpoint
from iif.models import build_model, load_pretrained
from iif.safe_load import (MAX_INFLATION_RATIO, check_archive, load_npz, load_torch_file,
                           restricted_pickle_load)

from _cli import SMOKE, SOFTMAX
from _cli import tool as _tool
from _det import require_det

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIFAR_SMOKE = SMOKE + ["data.name=cifar10_lt", "model.in_chans=3"]

# A CLIP small enough for CPU tests (as tests/test_backbones.py).
TINY_ARCH = "iif-security-tiny-clip"
TINY_CFG = {"embed_dim": 32,
            "vision_cfg": {"image_size": 64, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
            "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


# ------------------------------------------------------------------------------------ payloads


class _Evil:
    """Unpickling this creates a file: a stand-in for arbitrary code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


class _EvilScript(torch.nn.Module):
    """A TorchScript module whose ``__setstate__`` (run by ``torch.jit.load``) writes b"PPPP" into
    ``target`` through ``torch.from_file(..., shared=True)``."""

    def __init__(self, target: str):
        super().__init__()
        self.target = target
        self.w = torch.nn.Parameter(torch.ones(2))

    def forward(self, x):
        return x * self.w

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, torch.Tensor, bool]:
        return (self.target, self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, torch.Tensor, bool]) -> None:
        self.target = state[0]
        self.w = state[1]
        self.training = state[2]
        t = torch.from_file(self.target, True, 4, dtype=torch.uint8)
        t.fill_(80)
        self.w.data.add_(t.sum() * 0)  # keeps the write alive through TorchScript's dead-code pass


@pytest.fixture
def marker(tmp_path):
    """A file of four zero bytes that a payload would overwrite; ``untouched()`` checks it."""
    path = tmp_path / "MARKER"
    path.write_bytes(b"\0\0\0\0")

    class Marker(str):
        def untouched(self):
            return os.path.exists(self) and open(self, "rb").read() == b"\0\0\0\0" and \
                not os.path.exists(self + ".created")

    return Marker(str(path))


@pytest.fixture
def evil_script(tmp_path, marker):
    path = str(tmp_path / "evil_jit.pt")
    with pytest.warns(FutureWarning):
        torch.jit.script(_EvilScript(marker)).save(path)
    return path


@pytest.fixture
def evil_pickle(tmp_path, marker):
    """A torch file (zip) whose pickle creates ``marker + '.created'``."""
    path = str(tmp_path / "evil.pth")
    torch.save({"model": {"w": torch.ones(1)}, "payload": _Evil(marker + ".created")}, path)
    return path


def test_the_payloads_work_when_loaded_unsafely(evil_script, evil_pickle, marker):
    """The weapons are real: without the fixes, these are the loads that ran."""
    with pytest.warns(FutureWarning):
        torch.jit.load(evil_script)
    assert open(marker, "rb").read() == b"PPPP"
    torch.load(evil_pickle, weights_only=False)
    assert os.path.exists(marker + ".created")


def _deflate(src, dst):
    """Rewrite the zip ``src`` (a torch file or .npz) with every member deflated."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info), compress_type=zipfile.ZIP_DEFLATED)
    return str(dst)


@pytest.fixture
def pth_bomb(tmp_path):
    """A 16 MiB zero tensor deflated to about 20 KB: expands ~800 times."""
    torch.save({"w": torch.zeros(16 << 20, dtype=torch.uint8)}, tmp_path / "plain.pth")
    path = _deflate(tmp_path / "plain.pth", tmp_path / "bomb.pth")
    os.unlink(tmp_path / "plain.pth")
    assert os.path.getsize(path) * MAX_INFLATION_RATIO < 16 << 20
    return path


@pytest.fixture
def no_torch_load(monkeypatch):
    """A refused file must be refused before torch allocates anything."""
    def refuse(*args, **kwargs):
        raise AssertionError("torch.load reached")

    monkeypatch.setattr(torch, "load", refuse)


def _one_error_line(err, *parts):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


# ------------------------------------------------------------- item 1: TorchScript as CLIP weights


@pytest.fixture(scope="module")
def tiny_arch(tmp_path_factory):
    open_clip = pytest.importorskip("open_clip")
    path = tmp_path_factory.mktemp("clip_cfg") / f"{TINY_ARCH}.json"
    path.write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(path)
    return TINY_ARCH


def test_torchscript_clip_weights_need_unsafe_load(tiny_arch, evil_script, marker, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"evil_jit\.pt' is a TorchScript archive.*--unsafe-load"):
        build_model("clip", 3, arch=tiny_arch, class_names=["a", "b", "c"], pretrained=evil_script)
    code = _tool("train_cls").main(["--config", SOFTMAX, "--work-dir", str(tmp_path / "run"), "--cfg-options",
                                    *CIFAR_SMOKE, "model.name=clip", "model.head=linear", f"model.kwargs.arch={tiny_arch}",
                                    "model.kwargs.class_names=cifar10_lt", f"model.pretrained={evil_script}"])
    assert code == 2
    _one_error_line(capsys.readouterr().err, "evil_jit.pt", "TorchScript archive", "--unsafe-load")
    assert marker.untouched()


def test_a_trusted_torchscript_clip_converts_once_then_loads_safely(tiny_arch, tmp_path, capsys):
    import open_clip

    torch.manual_seed(0)
    clip = open_clip.create_model(tiny_arch, pretrained=None, device="cpu")
    with pytest.warns(FutureWarning):
        torch.jit.script(clip).save(str(tmp_path / "tiny_jit.pt"))
    convert = importlib.import_module("iif.models.clip").main
    assert convert(["--arch", tiny_arch, str(tmp_path / "tiny_jit.pt"), str(tmp_path / "tiny.pth")]) == 2
    _one_error_line(capsys.readouterr().err, "tiny_jit.pt", "--unsafe-load")
    assert convert(["--unsafe-load", "--arch", tiny_arch, str(tmp_path / "tiny_jit.pt"), str(tmp_path / "tiny.pth")]) == 0
    model = build_model("clip", 3, arch=tiny_arch, class_names=["a", "b", "c"], pretrained=str(tmp_path / "tiny.pth"))
    for k, v in clip.state_dict().items():
        assert torch.equal(model.clip.state_dict()[k], v)


def test_crafted_clip_state_dict_runs_no_code(tiny_arch, evil_pickle, marker, pth_bomb, tmp_path):
    for path, pattern in ((evil_pickle, r"evil\.pth'.*safe loading.*refuses.*io\.open"),
                          (pth_bomb, r"bomb\.pth'.*would expand")):
        with pytest.raises(ValueError, match=pattern):
            build_model("clip", 3, arch=tiny_arch, class_names=["a", "b", "c"], pretrained=path)
    assert marker.untouched()


# ----------------------------------------- item 2: test_cls trusts nothing a checkpoint's config names


def _rewrite_config(src, dst, **changes):
    """A copy of the trainer checkpoint ``src`` whose stored config has ``changes`` ({"model.pretrained": ...})."""
    ckpt = torch.load(src, weights_only=True)
    meta = json.loads(ckpt["meta_json"])
    for key, value in changes.items():
        node = meta["config"]
        *parents, last = key.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    ckpt["meta_json"] = json.dumps(meta)
    torch.save(ckpt, dst)
    return str(dst)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished smoke run (Fashion-MNIST shapes, cnn3): its last.pth."""
    wd = tmp_path_factory.mktemp("trained")
    assert _tool("train_cls").main(["--config", SOFTMAX, "--work-dir", str(wd), "--cfg-options", *SMOKE]) == 0
    return str(wd / "last.pth")


def test_test_cls_never_loads_pretrained_weights_named_in_a_checkpoint(trained, evil_script, marker, tmp_path, capsys):
    ckpt = _rewrite_config(trained, tmp_path / "ckpt.pth", model__pretrained=evil_script)
    # Even with --unsafe-load (the user trusts the checkpoint's pickles), the TorchScript archive
    # its config names is never read: the checkpoint holds every weight.
    assert _tool("test_cls").main(["--checkpoint", ckpt, "--unsafe-load", "--out-dir", str(tmp_path / "e1")]) == 0
    assert marker.untouched()
    gone = _rewrite_config(trained, tmp_path / "ckpt2.pth", model__pretrained=str(tmp_path / "no_such.pth"))
    assert _tool("test_cls").main(["--checkpoint", gone, "--out-dir", str(tmp_path / "e2")]) == 0
    capsys.readouterr()


def test_test_cls_reads_a_stored_data_root_without_running_code(trained, marker, tmp_path, capsys):
    root = _cifar_dir(tmp_path / "cifar", evil=marker + ".created")
    ckpt = _rewrite_config(trained, tmp_path / "ckpt.pth", data__name="cifar10_lt", data__root=str(root),
                           data__fake=False, model__in_chans=3)
    assert _tool("test_cls").main(["--checkpoint", ckpt, "--out-dir", str(tmp_path / "eval")]) == 2
    _one_error_line(capsys.readouterr().err, "data_batch_1", "refusing to load")
    assert marker.untouched()


# ------------------------------------------------------------ item 3: CIFAR batches, restricted


def _cifar_dir(root, evil=None):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    labels = list(range(10)) * 3
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(d / name, "wb") as fh:
            batch = {b"data": np.zeros((30, 3072), np.uint8), b"labels": labels, b"batch_label": b"x"}
            if evil and name == "data_batch_1":
                batch[b"payload"] = _Evil(evil)
            pickle.dump(batch, fh, protocol=2)
    return root


def test_cifar_batches_are_read_with_a_restricted_unpickler(tmp_path, marker, capsys):
    good = _cifar_dir(tmp_path / "good")
    d = load_cifar_pickle(str(good / "cifar-10-batches-py" / "data_batch_2"))
    assert d["data"].dtype == np.uint8 and d["data"].shape == (30, 3072) and d["labels"][:3] == [0, 1, 2]
    root = _cifar_dir(tmp_path / "evil", evil=marker + ".created")
    with pytest.raises(ValueError, match=r"data_batch_1.*refusing to load (io|builtins)\.open"):
        CIFAR10LT(str(root), "train", imbalance_factor=1)
    code = _tool("train_cls").main(["--config", SOFTMAX, "--work-dir", str(tmp_path / "run"), "--cfg-options",
                                    *CIFAR_SMOKE, "data.fake=False", f"data.root={root}"])
    assert code == 2
    _one_error_line(capsys.readouterr().err, "data_batch_1", "refusing to load")
    assert marker.untouched()


class _Alloc:
    """A pickle that asks NumPy for a 1 TB array (what NumPy's own pickles never do)."""

    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct

        return (_reconstruct, (np.ndarray, (10 ** 12,), b"b"))


def test_restricted_unpickler_allocates_nothing_a_file_does_not_hold(tmp_path):
    path = tmp_path / "alloc.pkl"
    path.write_bytes(pickle.dumps({"data": _Alloc()}, protocol=2))
    with pytest.raises(ValueError, match=r"alloc\.pkl.*refused numpy _reconstruct"):
        restricted_pickle_load(str(path))
    path.write_bytes(pickle.dumps({"data": np.arange(5, dtype=np.uint8), "n": {1, 2}}, protocol=4))
    back = restricted_pickle_load(str(path))
    assert back["data"].tolist() == [0, 1, 2, 3, 4] and back["n"] == {1, 2}
    path.write_bytes(pickle.dumps({"data": [1, 2]})[:-5])
    with pytest.raises(ValueError, match=r"alloc\.pkl' is not a readable pickle"):
        restricted_pickle_load(str(path))


def test_cifar_batches_must_hold_uint8_arrays(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.float64), "labels": [0, 1]}, protocol=2))
    with pytest.raises(ValueError, match=r"corrupt CIFAR batch .*data_batch_1: entries 'data'.*uint8"):
        load_cifar_pickle(str(path))


# --------------------------------------------------- item 10: MobileNetV2 weights checked at load


def test_zeroed_mobilenet_weights_are_refused_when_loaded(tmp_path, capsys):
    pytest.importorskip("torchvision")
    from iif.data.fetch_weights import MOBILENET_V2
    from iif.models.mobilenet import MobileNetV2Backbone

    path = tmp_path / "weights" / MOBILENET_V2.name
    path.parent.mkdir()
    path.write_bytes(bytes(1 << 20))
    with pytest.raises(ValueError, match=r"mobilenet_v2-b0353104\.pth' are corrupt.*python -m iif\.data\.fetch_weights "
                                         r"--root .*weights mobilenet_v2"):
        MobileNetV2Backbone(pretrained=str(path))
    code = _tool("train_cls").main(["--config", SOFTMAX, "--work-dir", str(tmp_path / "run"), "--cfg-options",
                                    *CIFAR_SMOKE, "model.name=mobilenet_v2", f"model.pretrained={path}"])
    assert code == 2
    _one_error_line(capsys.readouterr().err, str(path), "fetch_weights")


def test_crafted_files_on_the_mobilenet_path(tmp_path, evil_pickle, evil_script, pth_bomb, marker, capsys):
    pytest.importorskip("torchvision")
    for path, part in ((evil_pickle, "io.open"), (evil_script, "TorchScript archive"), (pth_bomb, "would expand")):
        code = _tool("train_cls").main(["--config", SOFTMAX, "--work-dir", str(tmp_path / "run"), "--cfg-options",
                                        *CIFAR_SMOKE, "model.name=mobilenet_v2", f"model.pretrained={path}"])
        assert code == 2
        _one_error_line(capsys.readouterr().err, path, part)
    assert marker.untouched()


# -------------------------------------------------------------------------- item 13: bombs


def test_a_deflated_pth_bomb_is_refused_before_torch_allocates(pth_bomb, no_torch_load):
    with pytest.raises(ValueError, match=r"bomb\.pth' \(\d+\.\d KiB\) would expand to 16\.0 MiB.*decompression bomb"):
        load_torch_file(pth_bomb)
    with pytest.raises(ValueError, match="would expand"):
        load_pretrained(torch.nn.Linear(2, 2), pth_bomb)
    with pytest.raises(CheckpointError, match="would expand"):
        load_checkpoint(pth_bomb)


def test_archive_limits_size_lies_and_member_names(tmp_path, monkeypatch):
    import iif.safe_load as sl

    torch.save({"w": torch.arange(1000.0)}, tmp_path / "ok.pth")
    assert check_archive(str(tmp_path / "ok.pth")) is True  # torch stores members: never near the limits
    assert check_archive(__file__) is False  # not a zip: nothing to check
    small = _deflate(tmp_path / "ok.pth", tmp_path / "deflated.pth")
    assert torch.equal(load_torch_file(small)["w"], torch.arange(1000.0))  # an honest compressed file loads
    monkeypatch.setattr(sl, "MAX_INFLATED_BYTES", 1000)  # the absolute cap
    with pytest.raises(ValueError, match=r"would expand to .* at most 1000 bytes"):
        check_archive(small, "checkpoint")
    monkeypatch.undo()
    with zipfile.ZipFile(tmp_path / "trav.pth", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({}))
        z.writestr("../../outside", b"x")
    with pytest.raises(ValueError, match=r"trav\.pth' is not a valid archive: member name '\.\./\.\./outside'"):
        load_pretrained(torch.nn.Linear(2, 2), str(tmp_path / "trav.pth"))


def test_bad_files_as_model_pretrained_are_one_line(trained, tmp_path, evil_script, pth_bomb, marker, capsys):
    with zipfile.ZipFile(tmp_path / "trav.pth", "w") as z:
        z.writestr("../x/data.pkl", b"x")
    (tmp_path / "zeros.pth").write_bytes(bytes(4096))
    (tmp_path / "trunc.pth").write_bytes(open(trained, "rb").read()[:3000])
    cases = ((evil_script, "TorchScript archive"), (pth_bomb, "would expand"), (str(tmp_path / "trav.pth"), "leaves"),
             (str(tmp_path / "zeros.pth"), "not a readable torch file"), (str(tmp_path / "trunc.pth"), "trunc.pth"))
    for path, part in cases:
        code = _tool("train_cls").main(["--config", SOFTMAX, "--work-dir", str(tmp_path / "run"), "--cfg-options",
                                        *SMOKE, f"model.pretrained={path}"])
        assert code == 2, path
        _one_error_line(capsys.readouterr().err, path, part)
    assert marker.untouched()


def test_timm_backbones_take_no_checkpoint_path_of_their_own(evil_pickle, marker):
    pytest.importorskip("timm")
    with pytest.raises(ValueError, match="'checkpoint_path' cannot be passed to a timm backbone"):
        build_model("resnet50", 3, checkpoint_path=evil_pickle)
    assert marker.untouched()


def _npz_bomb(path):
    np.savez(str(path) + ".plain.npz", test_logits=np.zeros((4096, 1024), np.float32),
             test_labels=np.zeros(4096, np.int64), train_counts=np.ones(1024, np.int64))
    _deflate(str(path) + ".plain.npz", path)
    os.unlink(str(path) + ".plain.npz")
    return str(path)


def _lying_header_npz(path):
    """An .npz whose test_logits header declares 10^12 floats but holds 16 bytes (np.load: MemoryError)."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 6, 10 ** 6)})
    member.write(bytes(16))
    np.savez(path, train_counts=np.ones(3, np.int64), test_labels=np.zeros(2, np.int64))
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("test_logits.npy", member.getvalue())
    return str(path)


def test_bad_predictions_files_are_refused_by_name(tmp_path, capsys):
    from iif.engine.report import load_predictions

    bomb = _npz_bomb(tmp_path / "bomb.npz")
    with pytest.raises(ValueError, match=r"bomb\.npz'.*would expand to 16\.0 MiB"):
        load_predictions(bomb)
    with pytest.raises(ValueError, match=r"lie\.npz'.*declares shape \(1000000, 1000000\)"):
        load_predictions(_lying_header_npz(tmp_path / "lie.npz"))
    np.savez(tmp_path / "range.npz", test_logits=np.zeros((2, 3), np.float32), test_labels=np.array([0, 7]),
             train_counts=np.ones(3, np.int64), shot_thresholds=np.array([100, 20]), meta=np.asarray("{}"),
             head_type=np.asarray("linear"))
    with pytest.raises(ValueError, match=r"range\.npz'.*class indices 0\.\.7, outside 0\.\.2"):
        load_predictions(str(tmp_path / "range.npz"))
    (tmp_path / "trunc.npz").write_bytes(open(tmp_path / "range.npz", "rb").read()[:200])
    with pytest.raises(ValueError, match=r"trunc\.npz'"):
        load_predictions(str(tmp_path / "trunc.npz"))
    with pytest.raises(ValueError, match=r"predictions file .*bomb\.npz"):
        load_npz(bomb, "predictions file")
    assert _tool("test_cls").main(["--predictions", bomb]) == 2
    _one_error_line(capsys.readouterr().err, "bomb.npz", "would expand")
    assert _tool("test_cls").main(["--predictions", str(tmp_path / "trunc.npz")]) == 2
    _one_error_line(capsys.readouterr().err, "trunc.npz")


def test_a_bad_cached_predictions_file_is_recomputed(trained, tmp_path, capsys, caplog):
    out = tmp_path / "eval"
    out.mkdir()
    cache = out / "predictions.npz"
    good = None
    for name, make in (("bomb", lambda: _npz_bomb(cache)), ("truncated", None), ("lying header", None),
                       ("labels out of range", None), ("not a zip", None)):
        if name == "bomb":
            make()
        elif name == "truncated":
            cache.write_bytes(good[: len(good) // 2])
        elif name == "lying header":
            os.unlink(cache)
            _lying_header_npz(cache)
        elif name == "labels out of range":
            with np.load(io.BytesIO(good)) as z:
                arrays = {k: z[k] for k in z.files}
            arrays["test_labels"] = arrays["test_labels"] + 100
            np.savez(cache, **arrays)
        else:
            cache.write_bytes(b"\0" * 100)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="iif.engine.report"):
            assert _tool("test_cls").main(["--checkpoint", trained, "--out-dir", str(out)]) == 0, name
        assert "ran the model once" in capsys.readouterr().out, name
        assert "recomputing" in caplog.text and "predictions.npz" in caplog.text, name
        good = cache.read_bytes()
    assert _tool("test_cls").main(["--checkpoint", trained, "--out-dir", str(out)]) == 0
    assert "reused saved logits" in capsys.readouterr().out


# ---------------------------------------------------- item 17: the detection tools, one line


@pytest.fixture
def evil_mmengine(tmp_path, marker):
    path = str(tmp_path / "evil_det.pth")
    torch.save({"meta": {"epoch": 1}, "state_dict": {"w": torch.ones(1)}, "x": _Evil(marker + ".created")}, path)
    return path


DET_CONFIG = os.path.join(REPO, "configs", "lvis", "toy", "iif_r18_toy.py")


def test_detection_tools_refuse_a_crafted_checkpoint_in_one_line(evil_mmengine, marker, tmp_path, capsys):
    require_det()
    code = _tool("test_det").main([DET_CONFIG, evil_mmengine, "--work-dir", str(tmp_path / "wd")])
    captured = capsys.readouterr()
    assert code == 2
    _one_error_line(captured.err, "evil_det.pth", "io.open")
    assert "Hooks will be executed" not in captured.out + captured.err  # the Runner was never built
    code = _tool("train_det").main([DET_CONFIG, "--work-dir", str(tmp_path / "wd"), "--cfg-options",
                                    f"load_from={evil_mmengine}"])
    assert code == 2
    _one_error_line(capsys.readouterr().err, "evil_det.pth", "io.open")
    # --resume: the work dir's latest checkpoint
    wd = tmp_path / "resume"
    wd.mkdir()
    os.link(evil_mmengine, wd / "epoch_1.pth")
    (wd / "last_checkpoint").write_text(str(wd / "epoch_1.pth"))
    assert _tool("train_det").main([DET_CONFIG, "--work-dir", str(wd), "--resume"]) == 2
    _one_error_line(capsys.readouterr().err, "epoch_1.pth", "io.open")
    assert marker.untouched()


def test_detection_check_accepts_mmengine_checkpoints(tmp_path):
    require_det()
    from mmengine.logging import MessageHub

    from mmdet_ext.config import check_checkpoint

    hub = MessageHub.get_instance("iif-security-test")
    hub.update_scalar("train/loss", 0.5)
    path = str(tmp_path / "epoch_1.pth")
    torch.save({"meta": {"epoch": 1}, "state_dict": {"w": torch.ones(2)}, "message_hub": hub.state_dict()}, path)
    check_checkpoint(path)  # MMEngine's own types pass
    bomb = _deflate(path, tmp_path / "d.pth")
    check_checkpoint(bomb)  # small and honest: fine
