"""Group 7, detection analysis: TIDE errors and false positives by LVIS group against one LVIS evaluation.

On one generated LVIS-format ground truth + result file pair (full preset: 10% of LVIS v1 val,
1,981 images x 300 detections, 1,203 categories), each side in a fresh process that reads the two
files:

- :func:`iif.det_analysis.analyze_detections` (TIDE overall and by frequency group, false
  positives per image) against :func:`mmdet_ext.lvis_eval.evaluate_lvis` (the LVIS metric the
  plugin reports): time and peak memory. Both run hotcoco's LVIS mode, so the analysis's
  ``lvis_ap`` must equal ``evaluate_lvis``'s AP / APr / APc / APf (the row's note gives the largest
  difference); how ``evaluate_lvis`` compares with lvis-api is group 5's row;
- then each alone on an LVIS-val-sized pair (19,809 images x 300 detections, 244,707 objects):
  its peak memory against the 24 GiB budget. (The LVIS evaluation used before hotcoco,
  faster-coco-eval 1.8.0, grew linearly with the detections: 1.6 / 3.1 GiB at 5% / 10% of LVIS val
  on the project's machine, about 31 GiB at full size; docs/BENCHMARKS.md.)

:func:`write_lvis_val_like` writes the pair (``python -m iif.bench.det_analysis OUT_DIR``), from
the generators of groups 3 and 5 (:func:`iif.bench.frequencies.write_lvis_like`,
:func:`iif.bench.lvis_eval.lvis_like_detections`).

``evaluate_lvis`` imports no mmdet, but the ``mmdet_ext`` package does; without mmdet the module
file is loaded alone from the source checkout, so this group runs wherever hotcoco is installed.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .core import Pair, Preset, Row, Skipped
from .frequencies import _maxrss_bytes, _rss_bytes, write_lvis_like
from .lvis_eval import KEYS, detections_to_dicts, lvis_like_detections

__all__ = ["run", "check_available", "write_lvis_val_like", "load_evaluate_lvis", "child", "main"]

logger = logging.getLogger(__name__)

#: Importable modules the group needs (evaluate_lvis is found by :func:`load_evaluate_lvis`).
REQUIRES = ("hotcoco",)
#: LVIS v1 val: images, objects, categories.
LVIS_VAL = (19_809, 244_707, 1203)
#: The memory the analysis must fit in: this project's machines have 24 GiB.
MEMORY_BUDGET = 24 * 2**30
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_CHUNK = 100_000


def load_evaluate_lvis() -> Callable[..., dict]:
    """:func:`mmdet_ext.lvis_eval.evaluate_lvis`; without mmdet, that module file loaded on its own."""
    try:
        from mmdet_ext.lvis_eval import evaluate_lvis

        return evaluate_lvis
    except ImportError:
        path = os.path.join(_REPO, "mmdet_ext", "lvis_eval.py")
        if not os.path.isfile(path):
            raise
        spec = importlib.util.spec_from_file_location("_iif_bench_lvis_eval", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return module.evaluate_lvis


def check_available() -> None:
    """Raise :class:`Skipped` naming what is missing."""
    missing = [name for name in REQUIRES if importlib.util.find_spec(name) is None]
    if not missing:
        try:
            load_evaluate_lvis()
        except ImportError:
            missing.append("mmdet_ext.lvis_eval")
    if missing:
        raise Skipped(f"needs {', '.join(missing)} (pip install -r requirements-det.txt)")


def write_lvis_val_like(directory: str, num_images: int = LVIS_VAL[0], num_annotations: int = LVIS_VAL[1],
                        num_categories: int = LVIS_VAL[2], per_image: int = 300, seed: int = 0) -> tuple[str, str]:
    """Write ``lvis_v1_val_like.json`` and ``results_bbox.json`` (``per_image`` detections per image) into ``directory``.

    The defaults are LVIS v1 val's size: 5.9 M detections, about 0.5 GB of results JSON, written in
    chunks (peak memory about 1 GB). Returns ``(ground truth path, results path)``.
    """
    os.makedirs(directory, exist_ok=True)
    gt_path = os.path.join(directory, "lvis_v1_val_like.json")
    res_path = os.path.join(directory, "results_bbox.json")
    write_lvis_like(gt_path, num_images, num_annotations, num_categories, seed)
    with open(gt_path) as fh:
        gt = json.load(fh)
    dets = lvis_like_detections(gt, per_image, seed)
    del gt
    # Round as a float32 detector's output would be: the file is the data, not the array.
    dets[:, 1:5] = np.round(dets[:, 1:5], 2)
    dets[:, 5] = np.round(dets[:, 5], 5)
    with open(res_path, "w") as fh:
        fh.write("[")
        for start in range(0, len(dets), _CHUNK):
            fh.write(("," if start else "") + json.dumps(detections_to_dicts(dets[start:start + _CHUNK]))[1:-1])
        fh.write("]")
    return gt_path, res_path


def child(side: str, gt_path: str, res_path: str, max_dets: int) -> dict:
    """In a fresh process: one side from the files. ``side``: ``analysis`` or ``lvis_eval``.

    Returns ``seconds``, ``peak`` (RSS bytes above the post-import baseline) and ``ap``
    (AP / APr / APc / APf), plus the analysis's consistency check and counts.
    """
    import hotcoco  # noqa: F401  (import cost outside the timing, for both sides)

    if side == "lvis_eval":
        fn = load_evaluate_lvis()
    elif side == "analysis":
        from ..det_analysis import analyze_detections
    else:
        raise ValueError(f"unknown side {side!r}; expected 'analysis' or 'lvis_eval'")
    base = _rss_bytes()
    t0 = time.perf_counter()
    extra: dict[str, Any] = {}
    if side == "lvis_eval":
        ap = fn(gt_path, res_path, iou_type="bbox", max_dets=max_dets)
    else:
        rep = analyze_detections(gt_path, res_path, max_dets=max_dets)
        ap = rep["lvis_ap"]
        extra = dict(checks=rep["checks"], counts=rep["overall"]["counts"], tool=rep["tool"],
                     fp_per_image={g: rep["groups"][g]["fp_per_image"]["0.05"] for g in rep["groups"]})
    seconds = time.perf_counter() - t0
    return dict(seconds=seconds, peak=_maxrss_bytes() - base, ap={k: float(ap[k]) for k in KEYS}, **extra)


def _run_child(side: str, gt_path: str, res_path: str, max_dets: int) -> dict:
    code = ("import json; from iif.bench.det_analysis import child; "
            f"print(json.dumps(child({side!r}, {gt_path!r}, {res_path!r}, {max_dets})))")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_REPO, env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"detection analysis benchmark child {side!r} failed (exit {out.returncode}): "
                           f"{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ap_diff(a: dict, b: dict) -> float:
    """Largest |difference| of AP / APr / APc / APf between two children's results."""
    return max(abs(a["ap"][k] - b["ap"][k]) for k in KEYS)


def run(preset: Preset, seed: int = 0) -> list[Row]:
    """Rows on generated file pairs: the analysis's time and peak memory vs ``evaluate_lvis`` on one
    file; then each alone at scale against :data:`MEMORY_BUDGET`."""
    check_available()
    from importlib.metadata import version

    dets = preset.det_dets
    hc = f"hotcoco {version('hotcoco')}"

    def size(n: int) -> str:
        return f"{n} images x {dets} detections, {preset.det_categories} categories"

    def interleave(gt_path: str, res_path: str) -> dict[str, list[dict]]:
        runs: dict[str, list[dict]] = {"lvis_eval": [], "analysis": []}
        order = list(runs)
        for r in range(preset.det_repeats):
            for side in (order if r % 2 == 0 else order[::-1]):
                runs[side].append(_run_child(side, gt_path, res_path, dets))
                logger.info("%s: %.1f s, peak %.2f GiB", side, runs[side][-1]["seconds"],
                            runs[side][-1]["peak"] / 2**30)
        return runs

    with tempfile.TemporaryDirectory(prefix="iif-bench-detanalysis-") as tmp:
        runs = interleave(*_write(os.path.join(tmp, "compare"), preset.det_images, preset.det_annotations, preset,
                                  seed))
        scale = interleave(*_write(os.path.join(tmp, "scale"), preset.det_scale_images,
                                   preset.det_scale_annotations, preset, seed))
    base = runs["lvis_eval"]

    def pair(key: str) -> Pair:
        return Pair(base=[b[key] for b in base], ours=[o[key] for o in runs["analysis"]])

    ana = runs["analysis"][0]
    tool = ana["tool"]
    t_ana, mem = pair("seconds"), pair("peak")

    def alone(side: str) -> tuple[float, float]:
        """Median peak RSS and seconds of one side at scale."""
        return (statistics.median(r["peak"] for r in scale[side]),
                statistics.median(r["seconds"] for r in scale[side]))

    a_mem, a_sec = alone("analysis")
    e_mem, e_sec = alone("lvis_eval")
    sa, se = scale["analysis"][0], scale["lvis_eval"][0]
    return [
        Row(group="7 det analysis", name=f"TIDE + FP/image by LVIS group vs LVIS evaluation, {size(preset.det_images)}",
            baseline=f"evaluate_lvis ({hc})", ours=f"analyze_detections ({tool})", base_value=t_ana.base_median,
            ours_value=t_ana.ours_median, unit="s", ratio=t_ana.ratio(), spread=t_ana.spread(),
            note=(f"both read the same two files in fresh processes; the analysis's lvis_ap vs evaluate_lvis "
                  f"(the same evaluator): AP/APr/APc/APf max |diff| {_ap_diff(ana, base[0]):.1e} "
                  f"({[round(base[0]['ap'][k], 4) for k in KEYS]}); groups add up to the full run: "
                  f"{ana['checks']['groups_add_up']}; TIDE counts [{tool}] {ana['counts']}")),
        Row(group="7 det analysis", name=f"peak RSS: analysis vs LVIS evaluation, {size(preset.det_images)}",
            baseline=f"evaluate_lvis ({hc})", ours=f"analyze_detections ({tool})", base_value=mem.base_median,
            ours_value=mem.ours_median, unit="B", ratio=mem.ratio()),
        Row(group="7 det analysis", name=f"peak RSS of the analysis alone, {size(preset.det_scale_images)}",
            baseline="this machine's memory (24 GiB)", ours=f"analyze_detections ({tool})", base_value=MEMORY_BUDGET,
            ours_value=a_mem, unit="B", ratio=a_mem / MEMORY_BUDGET, target=("<=", 1.0),
            note=(f"{a_sec:.1f} s; groups add up: {sa['checks']['groups_add_up']}; FP per image at score >= 0.05 "
                  f"[{tool}] " + ", ".join(f"{g} {v:.2f}" for g, v in sa["fp_per_image"].items()))),
        Row(group="7 det analysis", name=f"peak RSS of the LVIS evaluation alone, {size(preset.det_scale_images)}",
            baseline="this machine's memory (24 GiB)", ours=f"evaluate_lvis ({hc})", base_value=MEMORY_BUDGET,
            ours_value=e_mem, unit="B", ratio=e_mem / MEMORY_BUDGET, target=("<=", 1.0),
            note=(f"{e_sec:.1f} s; vs the analysis's lvis_ap on this file: max |diff| {_ap_diff(sa, se):.1e}; "
                  f"faster-coco-eval 1.8.0, the evaluator before hotcoco: about 31 GiB at LVIS-val size "
                  f"(extrapolated, docs/BENCHMARKS.md)")),
    ]


def _write(directory: str, n_images: int, n_annotations: int, preset: Preset, seed: int) -> tuple[str, str]:
    t0 = time.perf_counter()
    gt_path, res_path = write_lvis_val_like(directory, n_images, n_annotations, preset.det_categories,
                                            preset.det_dets, seed)
    logger.info("wrote %s (%.0f MiB) in %.1f s", res_path, os.path.getsize(res_path) / 2**20,
                time.perf_counter() - t0)
    return gt_path, res_path


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m iif.bench.det_analysis OUT_DIR``: write an LVIS-val-sized ground truth + result file pair."""
    ap = argparse.ArgumentParser(prog="python -m iif.bench.det_analysis", description=main.__doc__)
    ap.add_argument("out_dir")
    ap.add_argument("--images", type=int, default=LVIS_VAL[0])
    ap.add_argument("--annotations", type=int, default=LVIS_VAL[1])
    ap.add_argument("--categories", type=int, default=LVIS_VAL[2])
    ap.add_argument("--per-image", type=int, default=300, help="detections per image (LVIS's cap: 300)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        gt, res = write_lvis_val_like(args.out_dir, args.images, args.annotations, args.categories, args.per_image,
                                      args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"ground truth: {gt}\nresults:      {res}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
