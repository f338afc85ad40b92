"""Faults: a kill mid-save, an unwritable or full work dir, a diverging run, a reused work dir,
stale cached logits, and checkpoints crafted to run code. Each must leave the last good
checkpoint in place and say what happened."""
import builtins
import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from iif.engine import Trainer, load_config
from iif.engine.checkpoint import CheckpointError, atomic_save, atomic_write_text, load_checkpoint
from iif.engine.workdir import WorkDirError, prepare_work_dir

from _cli import FMNIST, REPO, SMOKE, SOFTMAX
from _cli import tool as _tool


def _opts(tmp_path, *extra):
    opts = dict(o.split("=", 1) for o in SMOKE + list(extra))
    cast = {"True": True, "False": False}
    out = {}
    for k, v in opts.items():
        out[k] = cast.get(v, int(v) if v.lstrip("-").isdigit() else float(v) if v.replace(".", "").replace(
            "e", "").replace("-", "").isdigit() else v)
    out["work_dir"] = str(tmp_path / "run")
    return out


# ------------------------------------------------------------------------- work dirs


def _start_until_saving(script: str) -> subprocess.Popen:
    """Start ``python -c script`` and return once it printed SAVING (it then hangs mid-write)."""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    for line in proc.stdout:
        if "SAVING" in line:
            break
    return proc


def test_a_second_run_is_refused_then_resumed_or_overwritten(tmp_path, capsys):
    train = _tool("train_cls").main
    args = ["--config", SOFTMAX, "--work-dir", str(tmp_path), "--cfg-options", *SMOKE]
    assert train(args) == 0
    before = os.path.getmtime(tmp_path / "last.pth")
    capsys.readouterr()
    assert train(args) == 2
    err = capsys.readouterr().err
    assert "already holds a finished run (1 epoch(s) logged" in err and "--resume" in err and "--overwrite" in err
    assert os.path.getmtime(tmp_path / "last.pth") == before  # untouched
    assert train(args + ["--resume"]) == 0  # a finished run is re-evaluated, not retrained
    assert load_checkpoint(str(tmp_path / "last.pth"))["epoch"] == 0
    assert train(args[:4] + ["--overwrite", "--cfg-options", *SMOKE, "seed=1"]) == 0
    assert load_checkpoint(str(tmp_path / "last.pth"))["config"]["seed"] == 1


def test_readme_commands_use_their_own_work_dirs():
    """Following the README in order must not overwrite a run another command builds on."""
    import argparse
    import shlex

    from mmengine.config import DictAction

    parser = argparse.ArgumentParser()  # the options of tools/train_cls.py that decide the work dir
    parser.add_argument("--config")
    parser.add_argument("--work-dir")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={})
    with open(os.path.join(REPO, "README.md")) as fh:
        text = fh.read().replace("\\\n", " ")
    dirs = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if not line.startswith("python tools/train_cls.py") or "CONFIG" in line:
            continue
        args, _ = parser.parse_known_args(shlex.split(line)[2:])
        options = dict(args.cfg_options)
        if args.work_dir:
            options["work_dir"] = args.work_dir
        cfg = load_config(os.path.join(REPO, args.config), options)
        assert cfg["work_dir"] not in dirs, f"{line!r} writes where {dirs.get(cfg['work_dir'])!r} does"
        dirs[cfg["work_dir"]] = line
    assert len(dirs) >= 2


def test_unwritable_work_dir_is_found_before_training(tmp_path, monkeypatch):
    target = str(tmp_path / "ro")
    real_open = os.open

    def deny(path, *a, **kw):
        if str(path).startswith(target):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return real_open(path, *a, **kw)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(WorkDirError, match=r"'.*/ro' is not writable \(Read-only file system\)"):
        prepare_work_dir(target)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(WorkDirError, match="not writable"):
            prepare_work_dir(str(ro))
    finally:
        ro.chmod(0o700)


def test_full_disk_at_start(tmp_path, monkeypatch):
    real_write = os.write

    def full(fd, data):
        if len(data) == 4096:  # the probe
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(WorkDirError, match="no space left on device"):
        prepare_work_dir(str(tmp_path / "wd"))
    assert os.listdir(tmp_path / "wd") == []  # no probe left behind


@pytest.mark.parametrize("how", ["oserror", "torch"])
def test_full_disk_during_a_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch, how):
    path = str(tmp_path / "last.pth")
    atomic_save({"model": {"w": torch.ones(3)}}, path)

    def failing_save(obj, fh):
        fh.write(b"x" * 100)
        if how == "oserror":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        # what torch.save's C++ writer raises on a full disk
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0: file write failed")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match=r"no space left on device while writing '.*last.pth'"):
        atomic_save({"model": {"w": torch.zeros(3)}}, path)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(3))
    assert os.listdir(tmp_path) == ["last.pth"]  # the temporary file is gone


def test_output_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text("x", str(tmp_path / "a.txt"))
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "a.txt").st_mode & 0o777) == 0o644


@pytest.mark.slow
def test_kill_during_a_checkpoint_write(tmp_path):
    """SIGKILL while epoch 2's checkpoint is half written: epoch 1's stays valid, the temporary file
    is cleaned up at the next start, and --resume finishes the run."""
    wd = tmp_path / "run"
    script = textwrap.dedent(f"""
        import sys, time, torch
        sys.path.insert(0, {REPO!r})
        from iif.engine import Trainer, load_config
        real = torch.save
        calls = []
        def slow_save(obj, fh, *a, **kw):
            calls.append(1)
            if len(calls) == 2:          # epoch 2: write part of the file, then hang
                fh.write(b"partial")
                fh.flush()
                print("SAVING", flush=True)
                time.sleep(60)
            return real(obj, fh, *a, **kw)
        torch.save = slow_save
        opts = {{"data.fake": True, "data.fake_size": 16, "data.batch_size": 4, "train.max_iters": 1,
                "schedule.epochs": 3, "device": "cpu", "model.name": "cnn3", "work_dir": {str(wd)!r}}}
        Trainer(load_config({SOFTMAX!r}, opts)).fit()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        for line in proc.stdout:
            if "SAVING" in line:
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    stale = [f for f in os.listdir(wd) if f.endswith(".tmp")]
    assert stale, "the kill should have left the half-written temporary file"
    assert load_checkpoint(str(wd / "last.pth"))["epoch"] == 0  # epoch 1 of 3, intact
    opts = _opts(tmp_path, "schedule.epochs=3")
    trainer = Trainer(load_config(SOFTMAX, opts), resume=True)
    assert not [f for f in os.listdir(wd) if f.endswith(".tmp")]
    assert trainer.start_epoch == 1
    trainer.fit()
    assert load_checkpoint(str(wd / "last.pth"))["epoch"] == 2


# ------------------------------------------------------------- runs sharing a work dir


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_a_second_start_on_a_live_run_is_refused_and_the_live_run_finishes(tmp_path, capsys):
    """Item 4 + 5 of issue 18: while a run is writing its checkpoint, a second start on its work dir
    (no flag, --resume, --overwrite) is refused in one line naming the live run's pid, deletes none
    of its files (its checkpoint's temporary file included), and the live run finishes intact."""
    wd, go = tmp_path / "run", tmp_path / "go"
    args = ["--config", SOFTMAX, "--work-dir", str(wd), "--cfg-options", *SMOKE]
    script = textwrap.dedent(f"""
        import os, sys, time, torch
        sys.path[:0] = [{REPO!r}, {os.path.join(REPO, "tests")!r}]
        real = torch.save
        def held_save(obj, fh, *a, **kw):   # the first checkpoint waits, its temporary file open
            if not os.path.exists({str(go)!r}):
                print("SAVING", flush=True)
                while not os.path.exists({str(go)!r}):
                    time.sleep(0.02)
            return real(obj, fh, *a, **kw)
        torch.save = held_save
        from _cli import tool
        sys.exit(tool("train_cls").main({args!r}))
    """)
    live = _start_until_saving(script)
    try:
        temps = [f for f in os.listdir(wd) if f.startswith(".last.pth.") and f.endswith(".tmp")]
        assert len(temps) == 1, (os.listdir(wd), live.stderr.read() if live.poll() is not None else "")
        train = _tool("train_cls").main
        capsys.readouterr()
        for flags in ([], ["--resume"], ["--overwrite"]):
            assert train(args[:4] + flags + args[4:]) == 2, flags
            line = _one_line_error(capsys.readouterr().err)
            assert f"is in use by pid {live.pid}" in line and str(wd) in line, line
            assert os.path.exists(wd / temps[0]), f"{flags} removed the live run's temporary file"
        go.touch()
        out, err = live.communicate(timeout=120)
    finally:
        if live.poll() is None:
            live.kill()
            live.wait()
    assert live.returncode == 0, err[-3000:]
    ckpt = load_checkpoint(str(wd / "last.pth"))
    assert ckpt["epoch"] == 0 and ckpt["config"]["seed"] == load_config(SOFTMAX)["seed"]
    results = json.loads((wd / "results.json").read_text())
    assert results["rows"] and len((wd / "log.jsonl").read_text().splitlines()) == 1
    assert not [f for f in os.listdir(wd) if f.endswith(".tmp")]
    # The lock went with the process: the next start is not refused.
    assert train(args[:4] + ["--resume"] + args[4:]) == 0


def test_only_our_stale_temporary_files_are_removed_and_only_under_the_lock(tmp_path):
    from iif.engine.workdir import DirLock, remove_stale_temps

    wd = tmp_path / "wd"
    wd.mkdir()
    ours = [".last.pth.a1b2_c3d.tmp", ".log.jsonl.zz99yy88.tmp"]
    theirs = ["notes.tmp", ".x.tmp", ".last.pth.tmp", ".data.TOOLONG12.tmp", "last.pth.abcdefgh.tmp"]
    for name in ours + theirs:
        (wd / name).write_text("x")
    (wd / ".dir.abcdefgh.tmp").mkdir()  # a directory is never ours
    with pytest.raises(RuntimeError, match="needs that directory's lock"):
        remove_stale_temps(str(wd), DirLock(str(wd)))
    claim = prepare_work_dir(str(wd))
    claim.release()
    assert sorted(os.listdir(wd)) == sorted(theirs + [".dir.abcdefgh.tmp", ".iif.lock"])


def test_overwrite_keeps_the_old_run_until_the_new_one_has_loaded(tmp_path, capsys):
    """Item 6: --overwrite with a typo in data.root leaves the old run (and its eval/) as it was;
    a successful --overwrite takes the old eval/ results with it."""
    train = _tool("train_cls").main
    args = ["--config", SOFTMAX, "--work-dir", str(tmp_path), "--cfg-options", *SMOKE]
    assert train(args) == 0
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "predictions.npz").write_bytes(b"old logits")
    (tmp_path / "eval" / "results.json").write_text("{}")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name != ".iif.lock"}
    capsys.readouterr()
    assert train(args[:4] + ["--overwrite"] + args[4:] + ["data.fake=False", f"data.root={tmp_path / 'typo'}"]) == 2
    assert "IDX files are not in" in _one_line_error(capsys.readouterr().err)
    assert {p: p.read_bytes() for p in before} == before  # all there, unchanged
    assert train(args[:4] + ["--overwrite"] + args[4:] + ["seed=1"]) == 0
    assert load_checkpoint(str(tmp_path / "last.pth"))["config"]["seed"] == 1
    assert [f for f in os.listdir(tmp_path / "eval") if not f.startswith(".")] == []  # stale results gone


def test_resume_refuses_changed_training_images(tmp_path):
    """Item 7: the training images changed under an unchanged config: --resume names both counts."""
    from PIL import Image

    root = tmp_path / "imgs"
    for split, n in (("train", 20), ("test", 2)):
        for c in ("a", "b", "c"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (8, 8), (40 * ord(c) % 256, i, 0)).save(root / split / c / f"{i:03d}.png")
    opts = _opts(tmp_path, "data.name=folder_lt", "data.fake=False", "model.in_chans=3")
    opts.update({"data.root": str(root), "data.kwargs": {"imbalance_factor": 4}, "data.test_transform": {},
                 "data.train_transform": {}})
    Trainer(load_config(SOFTMAX, opts)).fit()
    assert load_checkpoint(opts["work_dir"] + "/last.pth")["class_counts"] == [20, 10, 5]
    for c in ("a", "b", "c"):
        for i in range(8, 20):
            os.unlink(root / "train" / c / f"{i:03d}.png")
    with pytest.raises(ValueError, match=r"training set changed .*class counts \[20, 10, 5\] in the checkpoint, "
                                         r"\[8, 4, 2\] now"):
        Trainer(load_config(SOFTMAX, opts), resume=True)


def test_resume_from_a_checkpoint_without_optimizer_is_one_line(tmp_path, capsys):
    """Item 14 (part): a last.pth without the optimizer's state cannot continue a run: one line, exit 2."""
    train = _tool("train_cls").main
    args = ["--config", SOFTMAX, "--work-dir", str(tmp_path), "--cfg-options", *SMOKE]
    assert train(args) == 0
    ckpt = torch.load(str(tmp_path / "last.pth"), weights_only=True)
    del ckpt["optimizer"]
    torch.save(ckpt, str(tmp_path / "last.pth"))
    capsys.readouterr()
    assert train(args[:4] + ["--resume"] + args[4:]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "last.pth has no 'optimizer' entry" in line and "--overwrite" in line, line


def test_killed_evaluation_leaves_no_temporary_file_for_ever(tmp_path, capsys):
    """Item 18: tools/test_cls.py killed while writing eval/predictions.npz: while it lives a second
    evaluation is refused (its temporary file untouched); after the kill, the next one removes it."""
    train, test = _tool("train_cls").main, _tool("test_cls").main
    wd = tmp_path / "run"
    assert train(["--config", SOFTMAX, "--work-dir", str(wd), "--cfg-options", *SMOKE]) == 0
    ckpt, ev = str(wd / "last.pth"), wd / "eval"
    script = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        sys.path[:0] = [{REPO!r}, {os.path.join(REPO, "tests")!r}]
        def hanging_savez(fh, **arrays):
            fh.write(b"partial")
            fh.flush()
            print("SAVING", flush=True)
            time.sleep(120)
        np.savez = hanging_savez
        from _cli import tool
        sys.exit(tool("test_cls").main(["--checkpoint", {ckpt!r}]))
    """)
    proc = _start_until_saving(script)
    try:
        stale = [f for f in os.listdir(ev) if f.startswith(".predictions.npz.") and f.endswith(".tmp")]
        assert len(stale) == 1, (os.listdir(ev), proc.stderr.read() if proc.poll() is not None else "")
        capsys.readouterr()
        assert test(["--checkpoint", ckpt]) == 2
        assert f"is in use by pid {proc.pid}" in _one_line_error(capsys.readouterr().err)
        assert os.path.exists(ev / stale[0])  # a live writer's file is never removed
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert os.path.exists(ev / stale[0])
    assert test(["--checkpoint", ckpt]) == 0
    assert not [f for f in os.listdir(ev) if f.endswith(".tmp")]
    assert (ev / "predictions.npz").is_file()


def test_weights_csv_on_a_full_disk_leaves_no_temporary_file(tmp_path, monkeypatch):
    """Item 18: iif_weights --out (save_weights_csv) on a full disk: the old file intact, no temp file."""
    from iif.weights_io import load_weights_csv, save_weights_csv

    path = str(tmp_path / "w.csv")
    save_weights_csv(path, [1.0, 2.0])

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=r"no space left on device while writing '.*w.csv'"):
        save_weights_csv(path, [3.0, 4.0])
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["w.csv"]
    assert load_weights_csv(path)[0].tolist() == [1.0, 2.0]


# ---------------------------------------------------------------------- divergence


def test_nan_mid_run_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    trainer = Trainer(load_config(SOFTMAX, _opts(tmp_path, "schedule.epochs=3")))
    real = trainer.train_one_epoch

    def poisoned(epoch):
        record = real(epoch)
        if epoch == 1:  # a BatchNorm statistic blows up in epoch 2 while the loss stays finite
            next(b for n, b in trainer.model.named_buffers() if n.endswith("running_var")).fill_(float("inf"))
        return record

    monkeypatch.setattr(trainer, "train_one_epoch", poisoned)
    with pytest.raises(FloatingPointError, match=r"diverged in epoch 2: non-finite values in .*running_var.*"
                                                 r"last good checkpoint is .*last.pth \(epoch 1\)"):
        trainer.fit()
    ckpt = load_checkpoint(os.path.join(trainer.work_dir, "last.pth"))
    assert ckpt["epoch"] == 0 and all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert not os.path.exists(os.path.join(trainer.work_dir, "results.json"))


def test_huge_lr_is_an_error_not_a_result(tmp_path, capsys):
    code = _tool("train_cls").main(["--config", SOFTMAX, "--work-dir", str(tmp_path), "--cfg-options", *SMOKE,
                                    "optimizer.lr=1e6", "train.max_iters=3", "data.fake_size=32", "model.head=linear"])
    err = capsys.readouterr().err
    assert code == 2 and ("diverged" in err or "loss is" in err), err
    assert not os.path.exists(tmp_path / "results.json")


def test_nan_logits_are_not_scored():
    from iif.engine.report import Predictions, evaluate_predictions

    logits = torch.randn(6, 3)
    logits[2, 1] = float("nan")
    pred = Predictions(splits={"test": (logits, torch.tensor([0, 1, 2, 0, 1, 2]))}, train_counts=torch.tensor(
        [5, 3, 1]).numpy())
    with pytest.raises(FloatingPointError, match="1 of 18 evaluation logits are NaN or inf"):
        evaluate_predictions(pred)


def test_reproduce_fails_when_every_cell_fails(tmp_path, capsys):
    code = _tool("reproduce").main(["--datasets", "fashion_mnist_lt", "--seeds", "0", "--methods", "softmax",
                                    "--work-root", str(tmp_path), "--cfg-options", *SMOKE, "optimizer.lr=1e6",
                                    "train.max_iters=3", "data.fake_size=32", "model.head=linear"])
    err = capsys.readouterr().err
    assert code == 1 and "every cell failed" in err and "softmax seed 0" in err, err
    assert not os.path.exists(tmp_path / "results.md")


# -------------------------------------------------------------------- cached logits


def test_test_cls_recomputes_when_the_config_changes(tmp_path, capsys):
    wd = tmp_path / "run"
    assert _tool("train_cls").main(["--config", SOFTMAX, "--work-dir", str(wd), "--cfg-options", *SMOKE]) == 0
    test = _tool("test_cls").main
    ckpt = str(wd / "last.pth")
    assert test(["--checkpoint", ckpt]) == 0
    assert "ran the model once" in capsys.readouterr().out
    assert test(["--checkpoint", ckpt]) == 0
    assert "reused saved logits" in capsys.readouterr().out
    # A changed test-time option changes the logits: the cache must not answer for it.
    assert test(["--checkpoint", ckpt, "--cfg-options", "data.test_transform.image_size=24"]) == 0
    assert "ran the model once" in capsys.readouterr().out
    assert test(["--checkpoint", ckpt, "--config", SOFTMAX, "--cfg-options", *SMOKE]) == 0
    assert "ran the model once" in capsys.readouterr().out  # the stored config, not the file's, was cached


# ------------------------------------------------------------- code in a checkpoint


class _Evil:
    """Unpickling this creates a file: a stand-in for arbitrary code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


@pytest.fixture
def evil(tmp_path):
    marker = str(tmp_path / "PWNED")
    path = str(tmp_path / "evil.pth")
    torch.save({"model": {"w": torch.ones(1)}, "payload": _Evil(marker)}, path)
    legacy = str(tmp_path / "evil_legacy.pth")
    torch.save({"model": {}, "payload": _Evil(marker)}, legacy, _use_new_zipfile_serialization=False)
    # prove the files work as weapons: an unsafe load creates the marker
    torch.load(path, weights_only=False)
    assert os.path.exists(marker)
    os.unlink(marker)
    return path, legacy, marker


def test_every_loading_path_refuses_a_crafted_checkpoint(evil, tmp_path, capsys):
    path, legacy, marker = evil
    for p in (path, legacy):
        with pytest.raises(CheckpointError, match="refuses|not a readable"):
            load_checkpoint(p)
    with pytest.raises(CheckpointError, match=r"needs io.open.*--unsafe-load"):
        load_checkpoint(path)
    # test_cls --checkpoint
    assert _tool("test_cls").main(["--checkpoint", path, "--out-dir", str(tmp_path / "eval")]) == 2
    # a decoupled stage's load_from
    assert _tool("train_cls").main(["--config", os.path.join(FMNIST, "decoupled_iif.py"), "--work-dir",
                                    str(tmp_path / "dec"), "--cfg-options", *SMOKE,
                                    f"strategy.load_from={path}"]) == 2
    # --resume from a planted last.pth
    os.makedirs(tmp_path / "res")
    with open(path, "rb") as src, open(tmp_path / "res" / "last.pth", "wb") as dst:
        dst.write(src.read())
    assert _tool("train_cls").main(["--config", SOFTMAX, "--work-dir", str(tmp_path / "res"), "--resume",
                                    "--cfg-options", *SMOKE]) == 2
    err = capsys.readouterr().err
    assert err.count("safe loading") >= 3, err
    assert not os.path.exists(marker)


def test_unsafe_load_is_an_explicit_flag(evil, tmp_path):
    path, _, marker = evil
    _tool("test_cls").main(["--checkpoint", path, "--out-dir", str(tmp_path / "eval"), "--unsafe-load"])
    assert os.path.exists(marker)  # only with the flag: the documented escape hatch works
    with pytest.raises(CheckpointError):  # and the switch does not outlive the call
        load_checkpoint(path)


def test_mmengine_checkpoints_load_safely_and_crafted_ones_do_not(tmp_path):
    pytest.importorskip("mmengine")
    from mmengine.logging import HistoryBuffer, MessageHub
    from mmengine.runner.checkpoint import _load_checkpoint

    from iif.safe_load import allow_mmengine_checkpoints

    hub = MessageHub.get_instance("iif-test")
    hub.update_scalar("train/loss", 0.5)
    hub.update_scalar("train/loss", 0.25)
    hub.update_info("iter", 3)
    path = str(tmp_path / "epoch_1.pth")
    torch.save({"meta": {"epoch": 1, "cfg": "model = dict()", "dataset_meta": {"classes": ("a", "b")}},
                "state_dict": {"w": torch.ones(2)}, "message_hub": hub.state_dict(),
                "optimizer": torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1).state_dict()}, path)
    allow_mmengine_checkpoints()
    ckpt = _load_checkpoint(path, map_location="cpu")  # what Runner.resume / load_from call
    buf = ckpt["message_hub"]["log_scalars"]["train/loss"]
    assert isinstance(buf, HistoryBuffer) and float(buf.mean()) == pytest.approx(0.375)

    marker = str(tmp_path / "PWNED")
    torch.save({"state_dict": {}, "x": _Evil(marker)}, str(tmp_path / "evil.pth"))
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(str(tmp_path / "evil.pth"), map_location="cpu")

    class Sneaky:  # the allowed getattr must not reach anything but HistoryBuffer's statistics
        def __reduce__(self):
            return (getattr, (HistoryBuffer, "register_statistics"))

    torch.save({"x": Sneaky()}, str(tmp_path / "sneaky.pth"))
    with pytest.raises(pickle.UnpicklingError, match="register_statistics"):
        torch.load(str(tmp_path / "sneaky.pth"), weights_only=True)
    assert not os.path.exists(marker)
