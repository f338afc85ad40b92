"""The multi-label task of the classification trainer (issue 12, item 1): training, resume, DDP,
tools/test_cls.py, reproduce cells, configs, and the checks that refuse a task / loss mismatch."""
import glob
import importlib.util
import json
import os

import numpy as np
import pytest
import torch

import iif
from iif.data.fetch import default_data_root
from iif.engine import ConfigError, Trainer, load_config, validate_config
from iif.engine.builders import build_optimizer
from iif.engine.checkpoint import load_checkpoint
from iif.engine.report import config_digest, load_predictions
from iif.engine.task import MultiHotMixUp, build_task, check_task_config

from _cli import interrupted_after_first_save, torchrun_train_cls

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = os.path.join(REPO, "configs", "cls", "toy_mlt")
FMNIST = os.path.join(REPO, "configs", "cls", "fashion_mnist_lt")
ML_CONFIGS = sorted(c for d in ("toy_mlt", "voc_mlt", "coco_mlt")
                    for c in glob.glob(os.path.join(REPO, "configs", "cls", d, "*.py")))
HAVE_GLYPHS = os.path.isdir(os.path.join(default_data_root(), "mnist")) and \
    os.path.isdir(os.path.join(default_data_root(), "fashion_mnist"))

# Fake multi-hot data of toy_mlt's shape (iif.engine.builders.FakeMultiLabelDataset), tiny batches.
SMOKE = {"data.fake": True, "data.fake_size": 24, "data.batch_size": 8, "data.test_batch_size": 16,
         "data.num_workers": 0, "train.max_iters": 2, "schedule.epochs": 1, "device": "cpu", "model.name": "cnn3"}


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tools", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fast(tmp_path, **extra):
    opts = dict(SMOKE, work_dir=str(tmp_path / "run"))
    opts.update(extra)
    return opts


# ------------------------------------------------------------------------ configs and checks


def test_multilabel_configs_parse_with_their_task_and_losses():
    assert len(ML_CONFIGS) >= 14
    for path in ML_CONFIGS:
        cfg = load_config(path)
        assert cfg["task"] == "multi_label", path
        assert cfg["loss"]["type"] in iif.MULTILABEL_LOSSES, path
    toy = {os.path.basename(p)[:-3] for p in ML_CONFIGS if "/toy_mlt/" in p}
    assert {"bce", "focal", "asl", "db_focal", "bal_occurrence", "iif_bce"} <= toy
    bal = load_config(os.path.join(REPO, "configs/cls/voc_mlt/tailclip_rn50_bal.py"))
    assert bal["optimizer"] == dict(type="adamw", lr=2e-6, betas=[0.9, 0.98], weight_decay=0.01, momentum=0.9,
                                    nesterov=False)
    assert bal["data"]["batch_size"] == 8 and bal["schedule"]["epochs"] == 50 and bal["schedule"]["type"] == "cosine"
    assert bal["loss"] == dict(type="bal", k=0.7, gamma_pos=0.0, gamma_neg=12.0, clip=0.05, label_smoothing=0.01)
    assert bal["data"]["sampler"] == "occurrence" and bal["data"]["sampler_kwargs"] == {"k": 0.7}
    bce = load_config(os.path.join(REPO, "configs/cls/voc_mlt/tailclip_rn50_bce.py"))
    assert bce["loss"] == {"type": "bce"} and bce["data"]["sampler"] is None and bce["data"]["sampler_kwargs"] == {}


@pytest.mark.parametrize("config, options, message", [
    ("toy_mlt/bce.py", {"loss.type": "ce"},
     r"loss.type='ce' is a single-label \(softmax\) loss, but the task is 'multi_label' \(dataset 'toy_mlt'\); "
     r"expected one of \['asl', 'bal', 'bce'"),
    ("fashion_mnist_lt/softmax.py", {"loss.type": "bce"},
     r"loss.type='bce' is a multi-label \(sigmoid\) loss, but the task is 'single_label' \(dataset "
     r"'fashion_mnist_lt'\)"),
    ("toy_mlt/bce.py", {"task": "single_label"}, r"task='single_label' does not fit dataset 'toy_mlt', whose targets "
                                                 r"are multi-hot \(N, C\): set task='multi_label'"),
    ("fashion_mnist_lt/softmax.py", {"task": "multi_label"}, r"does not fit dataset 'fashion_mnist_lt'"),
    ("toy_mlt/bce.py", {"task": "multilabel"}, r"task='multilabel' is not one of \['single_label', 'multi_label'\]"),
    ("toy_mlt/asl.py", {"mixup.alpha": 0.2}, r"mixup.alpha=0.2 mixes the multi-hot targets into soft ones, which "
                                             r"loss 'asl' refuses"),
    ("toy_mlt/bce.py", {"data.sampler": "balanced"}, r"data.sampler='balanced' is not a multi-label sampler; "
                                                     r"expected None or one of \['occurrence', 'class_aware'"),
    ("fashion_mnist_lt/softmax.py", {"data.sampler": "occurrence"},
     r"data.sampler='occurrence' is not a single-label sampler.*occurrence / class_aware sample multi-label data"),
    ("toy_mlt/db_focal.py", {"loss.num_images": 10}, r"loss.num_images: K \(the number of training images\) is "
                                                     r"counted from the training set"),
    ("toy_mlt/bce.py", {"optimizer.betas": [0.9]}, r"optimizer.betas must be two numbers in \[0, 1\), got \[0.9\]"),
    ("toy_mlt/bce.py", {"optimizer.type": "adam"}, r"optimizer.type='adam' is not one of \['sgd', 'adamw'\]"),
])
def test_a_task_mismatch_is_refused_with_a_clear_message(config, options, message):
    with pytest.raises(ConfigError, match=message):
        load_config(os.path.join(REPO, "configs", "cls", config), options)


def test_the_task_is_inferred_from_the_dataset():
    assert check_task_config(validate_config({"data": {"name": "voc_mlt"}, "loss": {"type": "asl"}})) == []
    cfg = validate_config({"data": {"name": "coco_mlt"}, "loss": {"type": "bce"}})
    assert cfg["task"] is None and iif.engine.resolve_task(cfg) == "multi_label"
    assert iif.engine.resolve_task(load_config(os.path.join(FMNIST, "softmax.py"))) == "single_label"


def test_sampler_kwargs_reach_the_occurrence_sampler(tmp_path):
    trainer = Trainer(load_config(os.path.join(TOY, "bal_occurrence.py"), fast(tmp_path)))
    assert type(trainer.sampler).__name__ == "OccurrenceSampler" and trainer.sampler.k == 0.7
    with pytest.raises(ValueError, match=r"data.sampler_kwargs may not set \['seed'\]"):
        Trainer(load_config(os.path.join(TOY, "bal_occurrence.py"),
                            fast(tmp_path, **{"data.sampler_kwargs": {"seed": 3}})), overwrite=True)


def test_adamw_is_opt_in_and_sgd_stays_the_default(tmp_path):
    model = torch.nn.Linear(3, 2)
    sgd = build_optimizer(load_config(os.path.join(FMNIST, "softmax.py")), model)
    assert type(sgd) is torch.optim.SGD and sgd.defaults["momentum"] == 0.9
    adamw = build_optimizer(load_config(os.path.join(FMNIST, "softmax.py"),
                                        {"optimizer.type": "adamw", "optimizer.betas": [0.9, 0.98]}), model)
    assert type(adamw) is torch.optim.AdamW and adamw.defaults["betas"] == (0.9, 0.98)


def test_keys_added_to_the_schema_keep_old_runs_resumable_and_their_logits_cached(tmp_path):
    """A config stored before task / optimizer.type / betas / sampler_kwargs existed resumes, and its
    digest (which keys the logits cache) is the same as before the keys were added."""
    from iif.engine.trainer import _config_changes

    cfg = load_config(os.path.join(FMNIST, "softmax.py"), {"work_dir": str(tmp_path)})
    old = json.loads(json.dumps({k: v for k, v in cfg.items() if not k.startswith("_")}))
    del old["task"], old["optimizer"]["type"], old["optimizer"]["betas"], old["data"]["sampler_kwargs"]
    assert _config_changes(old, cfg) == []
    assert config_digest(cfg) == config_digest(dict(old, _config_path="x"))
    changed = load_config(os.path.join(FMNIST, "softmax.py"), {"work_dir": str(tmp_path), "optimizer.type": "adamw"})
    assert _config_changes(old, changed) == ["optimizer.type: 'sgd' -> 'adamw'"]
    assert config_digest(changed) != config_digest(cfg)


def test_multi_hot_mixup_mixes_images_and_targets_with_one_lambda():
    torch.manual_seed(0)
    x = torch.arange(4 * 3, dtype=torch.float32).reshape(4, 3, 1, 1)
    y = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=torch.float32)
    mx, my = MultiHotMixUp(0.4)(x.clone(), y.clone())
    torch.manual_seed(0)
    lam = float(torch.distributions.Beta(torch.tensor([0.4]), torch.tensor([0.4])).sample(()))
    assert 0 < lam < 1
    torch.testing.assert_close(mx, lam * x + (1 - lam) * x.roll(1, 0))
    torch.testing.assert_close(my, lam * y + (1 - lam) * y.roll(1, 0))
    with pytest.raises(ValueError, match=r"targets of shape \(4,\) for 4 images"):
        MultiHotMixUp(0.4)(x, torch.zeros(4))


# ------------------------------------------------------------------------- training


@pytest.mark.skipif(not HAVE_GLYPHS, reason="Fashion-MNIST / MNIST not fetched (python -m iif.data.fetch all)")
def test_a_short_run_on_the_offline_set_learns(tmp_path):
    """Real toy_mlt data: the training loss falls and test mAP beats chance (the mAP of random
    scores is about each class's positive rate, 10 % here) by a clear margin."""
    opts = {"work_dir": str(tmp_path / "toy"), "schedule.epochs": 3, "train.max_iters": 25, "device": "cpu",
            "train.threads": 1, "data.eval_split": "test"}  # the recipe's SE-ResNet-32 at 32 x 32, 75 steps
    trainer = Trainer(load_config(os.path.join(TOY, "bce.py"), opts))
    results = trainer.fit()
    losses = [h["train_loss"] for h in trainer.history]
    assert losses[-1] < 0.8 * losses[0], losses
    row = results["rows"][0]
    chance = 100 * trainer.eval_set.targets.mean()
    assert row["method"] == "BCE" and row["map"] > chance + 4, (row, chance)  # measured: 16.9 vs 10.0
    assert results["task"] == "multi_label" and results["num_images"] == 1142
    assert all(trainer.history[i]["train_acc"] is None for i in range(3))


@pytest.mark.parametrize("config", ["bce.py", "focal.py", "asl.py", "db_focal.py", "bal_occurrence.py", "iif_bce.py"])
def test_every_toy_config_trains_and_scores_map(tmp_path, config):
    trainer = Trainer(load_config(os.path.join(TOY, config), fast(tmp_path)))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    results = trainer.fit()
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
    rows = results["rows"]
    assert rows[0]["map"] is not None and set(rows[0]) >= {"head", "medium", "tail", "cf1", "of1"}
    # Post-process IIF rows only on the plain BCE model (every variant finite on the fake counts).
    assert [r["method"] for r in rows[1:]] == ([f"post-process IIF {v}" for v in iif.VARIANTS]
                                               if config == "bce.py" else [])
    for r in rows[1:]:
        # A positive weight keeps each class's ranking (AP) and each logit's sign (F1 at 0.5): the row
        # equals the model's. rel / normit flip class 0, in 13 of the 24 fake images (> K/2).
        same = [r[k] == rows[0][k] for k in ("map", "head", "medium", "tail", "cf1", "of1")]
        assert all(same) if r["param"] not in ("rel", "normit") else not all(same), r
    if config == "iif_bce.py":  # trained with IIF, the model scores sigmoid(w * z)
        logits, labels = iif.engine.collect_logits(trainer.model, trainer.eval_loader, torch.device("cpu"))
        w = iif.compute_weights(trainer.counts, "smooth", total=trainer.num_images)
        assert rows[0]["map"] == pytest.approx(iif.mean_average_precision(logits * w, labels) * 100)
        assert rows[0]["method"] == "IIF-sigmoid smooth (end-to-end)"


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    """2 epochs straight == 1 epoch, killed, resumed for 1: identical weights. With the occurrence
    sampler, multi-hot mixup and augmentation, so every RNG of an epoch is covered."""
    opts = fast(tmp_path, **{"schedule.epochs": 2, "train.max_iters": 3, "mixup.alpha": 0.4,
                             "data.sampler": "occurrence", "data.sampler_kwargs": {"k": 0.7}})
    cfg_path = os.path.join(TOY, "bce.py")
    straight = Trainer(load_config(cfg_path, dict(opts, work_dir=str(tmp_path / "a"))))
    straight.fit()
    with interrupted_after_first_save(monkeypatch), pytest.raises(KeyboardInterrupt):
        Trainer(load_config(cfg_path, dict(opts, work_dir=str(tmp_path / "b")))).fit()
    ckpt = load_checkpoint(str(tmp_path / "b" / "last.pth"))
    assert ckpt["epoch"] == 0 and ckpt["num_images"] == 24
    resumed = Trainer(load_config(cfg_path, dict(opts, work_dir=str(tmp_path / "b"))), resume=True)
    assert resumed.start_epoch == 1
    resumed.fit()
    a, b = _params(straight.model), _params(resumed.model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # Without the resume the second epoch would differ: the comparison can fail.
    fresh = Trainer(load_config(cfg_path, dict(opts, work_dir=str(tmp_path / "c"), seed=1)))
    fresh.fit()
    assert any(not torch.equal(a[k], v) for k, v in _params(fresh.model).items() if v.is_floating_point())


# --------------------------------------------------------------------------- evaluation


def test_test_cls_scores_map_and_chooses_post_process_iif_on_validation(tmp_path, capsys):
    Trainer(load_config(os.path.join(TOY, "bce.py"), fast(tmp_path, **{"train.max_iters": 3}))).fit()
    ckpt = str(tmp_path / "run" / "last.pth")
    test_cls = _tool("test_cls")
    assert test_cls.main(["--checkpoint", ckpt, "--device", "cpu", "--plots"]) == 0
    out = capsys.readouterr().out
    assert "test split; mAP and F1 in %" in out and "chosen on the validation split by map" in out
    eval_dir = tmp_path / "run" / "eval"
    report = json.loads((eval_dir / "results.json").read_text())
    assert report["task"] == "multi_label" and report["select_metric"] == "map" and report["num_images"] == 24
    first = report["splits"]["test"][0]
    assert first["method"] == "as trained (BCE)" and len(first["per_class"]) == 20
    assert [r["param"] for r in report["splits"]["test"][1:]] == list(iif.VARIANTS)
    assert {r["group"] for r in report["selected"]} == {"IIF variant", "any method"}
    assert all("val_map" in r for r in report["selected"])
    header = (eval_dir / "results.csv").read_text().splitlines()[0]
    assert header == "split,method,family,param,selected_on,map,head,medium,tail,cf1,of1"
    assert (eval_dir / "figures" / "per_class_ap.png").stat().st_size > 1000
    assert not (eval_dir / "figures" / "reliability.png").exists()
    pred = load_predictions(str(eval_dir / "predictions.npz"))
    labels = pred.splits["test"][1]
    assert pred.task == "multi_label" and pred.num_images == 24
    assert labels.dtype == torch.uint8 and labels.shape == pred.splits["test"][0].shape
    # From the saved logits only, chosen on validation CF1 (rel / normit flip class 0 here: CF1 differs).
    assert test_cls.main(["--predictions", str(eval_dir / "predictions.npz"), "--select-metric", "cf1",
                          "--out-dir", str(tmp_path / "cf1")]) == 0
    report = json.loads((tmp_path / "cf1" / "results.json").read_text())
    iif_pick = next(r for r in report["selected"] if r["group"] == "IIF variant")
    val = {r["method"]: r["cf1"] for r in report["splits"]["val"] if r["family"] == "iif"}
    assert iif_pick["val_cf1"] == max(val.values()) and val[iif_pick["selected"]] == max(val.values())
    # A single-label metric is refused for a multi-label model, naming the allowed ones.
    capsys.readouterr()
    assert test_cls.main(["--predictions", str(eval_dir / "predictions.npz"), "--select-metric", "balanced",
                          "--out-dir", str(tmp_path / "bad")]) == 2
    assert "selection metric 'balanced' is not a multi_label metric; expected one of ['map', 'cf1', 'of1']" \
        in capsys.readouterr().err


def test_single_label_predictions_files_keep_their_layout(tmp_path):
    """A single-label predictions file holds no task key and int64 labels, as before."""
    Trainer(load_config(os.path.join(FMNIST, "softmax.py"),
                        dict(fast(tmp_path), **{"data.fake_size": 16}))).fit()
    from iif.engine.report import cached_predictions

    path = str(tmp_path / "p.npz")
    pred, _ = cached_predictions(str(tmp_path / "run" / "last.pth"), path, device="cpu")
    with np.load(path) as z:
        assert "task" not in z.files and "num_images" not in z.files and z["test_labels"].dtype == np.int64
    assert load_predictions(path).task == "single_label" and pred.num_images is None


# ---------------------------------------------------------------------------- reproduce


def test_reproduce_cells_on_a_multilabel_dataset(tmp_path):
    from iif.engine.reproduce import Recipe, default_methods, format_markdown, aggregate, run_table

    recipe = Recipe(options=dict(SMOKE), epochs=1, config_dir=os.path.join(REPO, "configs/cls"))
    root = str(tmp_path / "rep")
    methods = ["bce", "iif_bce", "posthoc_iif_bce", "posthoc_iif_bce_val"]
    records = run_table(["toy_mlt"], [0], recipe, root, methods)
    by = {r["method"]: r for r in records}
    assert set(by) == set(methods)
    assert by["bce"]["row"]["method"] == "as trained (BCE)" and by["bce"]["row"]["map"] is not None
    assert by["posthoc_iif_bce"]["row"]["method"] == "post-process IIF smooth"
    # AP ignores a positive per-class scale: post-process IIF keeps BCE's mAP exactly.
    assert by["posthoc_iif_bce"]["row"]["map"] == pytest.approx(by["bce"]["row"]["map"])
    chosen = by["posthoc_iif_bce_val"]["row"]
    assert chosen["group"] == "IIF variant" and "val_cf1" in chosen and chosen["selected"].startswith("post-process")
    text = format_markdown(aggregate(records, [0]), [0], recipe)
    assert "| method | mAP | head | medium | tail | CF1 | OF1 |" in text and "| BCE |" in text
    assert "post-process IIF-sigmoid (variant chosen on val CF1): seed 0: " in text
    assert set(default_methods("multi_label")) == {"bce", "sigmoid_focal", "asl", "db_focal", "bal_occurrence",
                                                    "iif_bce", "posthoc_iif_bce"}
    with pytest.raises(ValueError, match=r"method\(s\) \['softmax'\] do not belong to dataset 'toy_mlt', a "
                                         r"multi_label task"):
        run_table(["toy_mlt"], [0], recipe, root, ["softmax"])
    with pytest.raises(ValueError, match=r"method\(s\) \['bce'\] do not belong to dataset 'fashion_mnist_lt'"):
        run_table(["fashion_mnist_lt"], [0], recipe, root, ["bce"])


# --------------------------------------------------------------------------------- DDP


@pytest.mark.slow
def test_ddp_two_processes_gloo(tmp_path):
    wd = tmp_path / "ddp"
    opts = fast(tmp_path, **{"work_dir": str(wd), "data.batch_size": 8, "data.sampler": "occurrence"})
    torchrun_train_cls(os.path.join(TOY, "bce.py"), opts)
    ckpt = load_checkpoint(str(wd / "last.pth"))
    assert ckpt["epoch"] == 0 and np.isfinite(ckpt["history"][0]["train_loss"]) and ckpt["num_images"] == 24
    results = json.loads((wd / "results.json").read_text())
    assert results["task"] == "multi_label" and results["rows"][0]["method"] == "BCE (occurrence sampler)"
    assert results["rows"][0]["map"] is not None
