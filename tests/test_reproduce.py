"""tools/reproduce.py: cells over seeds, resumability, failures, mean ± std tables."""
import json
import os
import sys

import pytest

import iif

from iif.engine import reproduce
from iif.engine.reproduce import METHODS, Recipe, aggregate, format_markdown, run_table, write_outputs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE = {"data.fake": True, "data.fake_size": 40, "model.name": "cnn3", "model.head": "linear", "device": "cpu",
        "data.batch_size": 16}


def _recipe(**kw):
    return Recipe(options=dict(FAKE), epochs=1, decoupled_epochs=1, config_dir=os.path.join(REPO, "configs/cls"), **kw)


@pytest.mark.slow
def test_table_runs_resumes_retries_and_refuses_another_recipe(tmp_path, monkeypatch, capsys):
    root = str(tmp_path / "rep")
    methods = ["softmax", "posthoc_iif_val", "softmax_linear", "tau_norm", "crt"]
    real_run_cell = reproduce.run_cell

    def crt_diverges(root_, dataset, seed, method, recipe):
        if method.key == "crt" and seed == 1:
            raise FloatingPointError("loss is nan")
        return real_run_cell(root_, dataset, seed, method, recipe)

    monkeypatch.setattr(reproduce, "run_cell", crt_diverges)
    records = run_table(["fashion_mnist_lt"], [0, 1], _recipe(), root, methods)
    assert [(r["seed"], r["method"]) for r in records] == [
        (0, "softmax"), (0, "posthoc_iif_val"), (0, "crt"), (0, "softmax_linear"), (0, "tau_norm"),
        (1, "softmax"), (1, "posthoc_iif_val"), (1, "softmax_linear"), (1, "tau_norm")]
    failed = os.path.join(root, "fashion_mnist_lt", "seed1", "crt", "failed.json")
    assert json.load(open(failed))["error"] == "loss is nan"
    soft = records[0]
    assert soft["row"]["method"] == "as trained (softmax)" and soft["config"].endswith("fashion_mnist_lt/softmax.py")
    assert records[1]["row"]["family"] == "iif" and records[1]["row"]["selected"].startswith("post-process IIF ")
    assert records[4]["row"]["family"] == "tau_norm"  # the linear-head softmax: tau-norm applies

    # Resume: finished cells are read back, never re-run; the failed one is retried.
    ran = []
    monkeypatch.setattr(reproduce, "run_cell", lambda *a: ran.append(a[3].key) or real_run_cell(*a))
    again = run_table(["fashion_mnist_lt"], [0, 1], _recipe(), root, methods)
    assert ran == ["crt"] and len(again) == 10 and not os.path.exists(failed)
    assert [r["finished"] for r in again if (r["seed"], r["method"]) != (1, "crt")] == [r["finished"] for r in records]

    text, path = write_outputs(again, [0, 1], _recipe(), root, ["fashion_mnist_lt"])
    assert open(path).read() == text
    assert "| softmax (CE) |" in text and "| cRT |" in text and " ± " in text
    assert "post-process IIF (variant chosen on val): seed 0: " in text
    chosen = text.split("seed 0: ")[1].split(",")[0]
    assert chosen in iif.VARIANTS

    with pytest.raises(ValueError, match="made with another recipe"):
        run_table(["fashion_mnist_lt"], [0], Recipe(options=dict(FAKE), epochs=2, decoupled_epochs=1,
                                                    config_dir=os.path.join(REPO, "configs/cls")), root, methods)

    # The tool on the finished table: nothing to train, the table is printed.
    sys.path.insert(0, os.path.join(REPO, "tools"))
    try:
        import reproduce as tool
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(reproduce, "run_cell", lambda *a: pytest.fail("a finished cell ran again"))
    argv = ["--datasets", "fashion_mnist_lt", "--seeds", "0", "1", "--methods", *methods, "--epochs", "1",
            "--decoupled-epochs", "1", "--config-dir", os.path.join(REPO, "configs/cls"), "--work-root", root,
            "--cfg-options"] + [f"{k}={v}" for k, v in FAKE.items()]
    assert tool.main(argv) == 0
    assert "| tau-norm of the linear-head softmax (tau chosen on val) |" in capsys.readouterr().out


def _record(seed, method, top1, row=True, note=""):
    m = next(x for x in METHODS if x.key == method)
    r = dict(method="x", top1=top1, balanced=top1, many=top1, medium=None, few=None, ece=5.0, nll=0.5)
    return dict(dataset="toy", seed=seed, method=method, name=m.name, row=r if row else None, note=note, wall_s=60.0)


def test_mean_std_by_hand_missing_seeds_and_unavailable_methods():
    records = [_record(0, "softmax", 80.0), _record(1, "softmax", 82.0), _record(2, "softmax", 84.0),
               _record(0, "lws", 70.0), _record(1, "lws", 71.0),
               _record(0, "tau_norm", 0, row=False, note="cosine head")]
    summary = aggregate(records, [0, 1, 2])
    assert summary["toy"]["softmax"]["stats"]["top1"] == (82.0, 2.0, 3)  # sample std (ddof=1)
    text = format_markdown(summary, [0, 1, 2], _recipe(), {"toy": 360.0})
    assert "### toy (test split; seeds 0, 1, 2; 6 min of compute)" in text
    assert "| softmax (CE) | 82.0 ± 2.0 | 82.0 ± 2.0 | 82.0 ± 2.0 | - | - | 5.0 ± 0.0 | 0.500 ± 0.000 |" in text
    assert "| LWS | 70.5 ± 0.7 (2/3) |" in text
    assert "| tau-norm of the linear-head softmax (tau chosen on val) | n/a |" in text and "not available: cosine head" in text


def test_errors_before_any_training(tmp_path):
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['focal'\]; expected some of \['softmax'"):
        run_table(["fashion_mnist_lt"], [0], _recipe(), str(tmp_path), ["focal"])
    with pytest.raises(ValueError, match="include 'softmax'"):
        run_table(["fashion_mnist_lt"], [0], _recipe(), str(tmp_path), ["crt"])
    with pytest.raises(FileNotFoundError, match=r"method 'softmax' needs .*cifar10_lt/softmax.py; add it"):
        run_table(["cifar10_lt"], [0], _recipe(), str(tmp_path), ["softmax", "iif_csl"])
    assert not os.listdir(tmp_path)


def test_cell_configs_follow_the_recipe():
    recipe = Recipe(options=dict(FAKE), epochs=4, decoupled_epochs=3, config_dir=os.path.join(REPO, "configs/cls"))
    by = {m.key: m for m in METHODS}
    ldam = reproduce._cell_config(recipe, "/r", "mnist_lt", 2, by["ldam_drw"])
    # The config switches DRW on at epoch 6 of 8; on a 4-epoch schedule that is epoch 3.
    assert ldam["schedule"]["epochs"] == 4 and ldam["loss"]["drw_epoch"] == 3 and ldam["seed"] == 2
    assert ldam["data"]["kwargs"].get("seed", 0) == 0  # the long-tailed subset stays the published one
    lws = reproduce._cell_config(recipe, "/r", "mnist_lt", 2, by["lws"])
    assert lws["strategy"]["load_from"] == os.path.join("/r", "mnist_lt", "seed2", "softmax", "last.pth")
    assert lws["schedule"]["epochs"] == 3 and lws["work_dir"] == os.path.join("/r", "mnist_lt", "seed2", "lws")
    assert lws["model"]["head"] == "linear"  # the shared --cfg-options reach every cell


def test_config_prefix_runs_a_second_recipe_of_the_folder(tmp_path):
    """--config-prefix mbv2_: the MobileNetV2 configs beside the SE-ResNet-32 ones in cifar10_lt_jpeg/."""
    recipe = Recipe(options={}, config_dir=os.path.join(REPO, "configs/cls"), config_prefix="mbv2_")
    by = {m.key: m for m in METHODS}
    for key in ("softmax", "iif_e2e", "balanced_softmax", "decoupled_iif", "crt", "lws", "softmax_linear"):
        cfg = reproduce._cell_config(recipe, "/r", "cifar10_lt_jpeg", 1, by[key])
        assert os.path.basename(cfg["_config_path"]) == f"mbv2_{by[key].config}.py"
        assert cfg["model"]["name"] == "mobilenet_v2" and cfg["work_dir"] == os.path.join("/r", "cifar10_lt_jpeg",
                                                                                           "seed1", key)
    lws = reproduce._cell_config(recipe, "/r", "cifar10_lt_jpeg", 1, by["lws"])
    assert lws["strategy"]["load_from"] == os.path.join("/r", "cifar10_lt_jpeg", "seed1", "softmax", "last.pth")
    # the prefix is part of the recipe (a root of the other recipe is refused); none: as before
    assert recipe.as_dict()["config_prefix"] == "mbv2_" and "config_prefix" not in _recipe().as_dict()
    with pytest.raises(FileNotFoundError, match=r"needs .*cifar10_lt_jpeg/mbv2_iif_csl.py"):
        run_table(["cifar10_lt_jpeg"], [0], recipe, str(tmp_path), ["softmax", "iif_csl"])
