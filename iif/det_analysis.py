"""False-positive analysis of LVIS-format detection results: TIDE errors by LVIS frequency group.

The paper's detection claim is that additive logit adjustments turn background into rare-class
false positives while IIF's multiplication does not. :func:`analyze_detections` makes that
checkable on any LVIS-format result file:

- TIDE's error breakdown (Bolya et al., ECCV 2020) over all categories: ``Cls``, ``Loc``, ``Both``,
  ``Dupe``, ``Bkg``, ``Miss`` as dAP (AP at IoU 0.5 gained by fixing that error type) and their counts, plus
  the ``FalsePos`` / ``FalseNeg`` oracles;
- the same by LVIS frequency group (rare / common / frequent, from each category's ``frequency``),
  attributed to the group of the detection's class (see "Groups" below);
- false positives per image above a few score thresholds, per group (a false positive: a
  detection that the LVIS protocol evaluates and that matches no object at IoU ``pos_thr``).

**Which tool.** Two TIDE implementations exist on the registry, and they disagree on LVIS by
design: ``tidecv`` 1.0.1 (the authors') averages over classes that have predictions but no
ground truth and treats unverified classes as ignore regions; ``hotcoco`` follows the LVIS
protocol (a detection of a class that an image neither contains nor lists in
``neg_category_ids`` is not evaluated at all) and averages over categories with ground truth, as
LVIS AP does. We use ``hotcoco`` (compiled, Rust): its TIDE runs on the same matching as its LVIS
AP, it needs only numpy, and it analyses an LVIS-val-sized result set (19,809 images x 300
detections) in 30-60 s and 3.4 GiB on a busy 2-core machine, where tidecv costs about 77 ms and
1 MB per image at 300 detections (at that rate about 25 minutes and 20 GB for LVIS val; tidecv was
not run here). Every number the analysis reports is labelled with the tool and its version
(:func:`tool_version`), since another TIDE gives other numbers.

**Groups.** hotcoco reports TIDE over all categories only. A false positive's type depends only on
the ground truth and on the detections of its own class, so running hotcoco on one group's
detections against all ground truth gives each of them exactly the type it has in the full run,
and gives each of the group's categories exactly its full-run AP and its change under the
``Both`` / ``Dupe`` / ``Bkg`` / ``FalsePos`` / ``FalseNeg`` fixes; hotcoco averages over all
categories with ground truth, so the group's mean is that value times ``N_all / N_group``.
Three dAP do not split this way and are reported for all categories only: ``Cls`` (fixing a class
confusion credits the class of the object it hit, possibly in another group), ``Miss`` (whether a
missed object counts as ``Miss`` depends on other classes' detections) and ``Loc`` (hotcoco
1.3.0's fix of a mislocalised box also depends on other classes' detections: on a generated
10%-of-LVIS-val set the groups' sum missed the full run by 5.5e-5 of 5.7e-2). The error
*counts* of all five false-positive types split exactly. The report checks that the groups add up
to the full run (counts, AP and the split dAP).

``import iif`` does not import this module's dependency: hotcoco is imported when called.
"""
from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import warnings
from typing import Any, Mapping, Sequence, Union

import numpy as np

__all__ = ["TOOL", "ERROR_TYPES", "FP_TYPES", "LVIS_GROUPS", "DEFAULT_SCORE_THRESHOLDS", "tool_version",
           "analyze_detections", "format_report"]

logger = logging.getLogger(__name__)

#: The analysis backend (PyPI name).
TOOL = "hotcoco"
#: TIDE's main error types, in TIDE's table order.
ERROR_TYPES = ("Cls", "Loc", "Both", "Dupe", "Bkg", "Miss")
#: The false-positive types (a count of detections); ``Miss`` counts objects.
FP_TYPES = ("Cls", "Loc", "Both", "Dupe", "Bkg")
#: dAP that split exactly by frequency group (see the module docstring).
GROUP_DAP = ("Both", "Dupe", "Bkg", "FalsePos", "FalseNeg")
#: LVIS ``frequency`` codes and the names LVIS reports them under (APr / APc / APf).
LVIS_GROUPS = {"r": "rare", "c": "common", "f": "frequent"}
#: Score thresholds for false positives per image: all evaluated detections, COCO's usual
#: visualisation cut (0.05), and two operating points.
DEFAULT_SCORE_THRESHOLDS = (0.0, 0.05, 0.3, 0.5)
# hotcoco's delta_ap keys -> ours (TIDE's names for the two oracles).
_ORACLES = {"FP": "FalsePos", "FN": "FalseNeg"}

Source = Union[str, "os.PathLike[str]", Mapping[str, Any]]


def _hotcoco() -> Any:
    try:
        import hotcoco
    except ImportError as exc:  # pragma: no cover - exercised where hotcoco is absent
        raise ImportError("the detection analysis needs hotcoco: pip install hotcoco==1.3.0 "
                          "(pinned in requirements-det.txt)") from exc
    return hotcoco


def tool_version() -> str:
    """``"hotcoco <version>"``, the label put next to every number of the report."""
    from importlib.metadata import version

    _hotcoco()
    return f"{TOOL} {version(TOOL)}"


def _check_args(iou_type: str, max_dets: int, score_thresholds: Sequence[float], pos_thr: float,
                bg_thr: float) -> list[float]:
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"unknown iou_type {iou_type!r}; expected 'bbox' or 'segm'")
    if isinstance(max_dets, bool) or not isinstance(max_dets, (int, np.integer)) or max_dets < 1:
        raise ValueError(f"max_dets must be a positive integer (LVIS: 300), got {max_dets!r}")
    # hotcoco matches at the evaluation's IoU thresholds 0.5, 0.55, ..., 0.95 (it snaps to the nearest).
    if not (0.5 <= pos_thr <= 0.95) or abs(pos_thr * 20 - round(pos_thr * 20)) > 1e-9:
        raise ValueError(f"pos_thr must be one of LVIS's IoU thresholds 0.5, 0.55, ..., 0.95, got {pos_thr!r}")
    if not (0.0 <= bg_thr < pos_thr):
        raise ValueError(f"bg_thr must be in [0, pos_thr={pos_thr}), got {bg_thr!r}")
    thrs = []
    for t in score_thresholds:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            raise ValueError(f"score thresholds must be finite numbers, got {t!r} in {list(score_thresholds)}")
        thrs.append(float(t))
    if not thrs:
        raise ValueError("need at least one score threshold")
    return sorted(set(thrs))


def _groups(coco: Any) -> dict[str, list[int]]:
    """``{"rare": [cat ids], ...}`` from the categories' LVIS ``frequency``."""
    out: dict[str, list[int]] = {name: [] for name in LVIS_GROUPS.values()}
    bad = []
    for cid, cat in sorted(coco.cats.items()):
        freq = cat.get("frequency")
        if freq not in LVIS_GROUPS:
            bad.append((cid, freq))
        else:
            out[LVIS_GROUPS[freq]].append(int(cid))
    if bad:
        raise ValueError(f"{len(bad)} categories have no LVIS frequency in {sorted(LVIS_GROUPS)}, e.g. "
                         f"(id, frequency) {bad[:5]}; the analysis groups categories by LVIS's 'frequency' field")
    return out


def _evaluate(hc: Any, gt: Any, dt: Any, iou_type: str, max_dets: int) -> Any:
    ev = hc.COCOeval(gt, dt, iou_type, lvis_style=True)
    ev.params.max_dets = [max_dets]
    ev.evaluate()
    return ev


def _tide(ev: Any, pos_thr: float, bg_thr: float) -> dict:
    t = ev.tide_errors(pos_thr=pos_thr, bg_thr=bg_thr)
    dap = {_ORACLES.get(k, k): float(v) for k, v in t["delta_ap"].items()}
    return dict(tide_ap=float(t["ap_base"]), dAP={k: dap[k] for k in (*ERROR_TYPES, "FalsePos", "FalseNeg")},
                counts={k: int(t["counts"][k]) for k in ERROR_TYPES})


def analyze_detections(gt: Source, results: Union[str, "os.PathLike[str]", Sequence[dict], np.ndarray],
                       iou_type: str = "bbox", max_dets: int = 300,
                       score_thresholds: Sequence[float] = DEFAULT_SCORE_THRESHOLDS, pos_thr: float = 0.5,
                       bg_thr: float = 0.1) -> dict:
    """TIDE errors and false positives per image of LVIS-format ``results``, overall and by frequency group.

    Args:
        gt: LVIS json (path or dict): ``frequency`` per category, ``neg_category_ids`` /
            ``not_exhaustive_category_ids`` per image.
        results: LVIS result file (path), list of ``{image_id, category_id, bbox, score[, segmentation]}``,
            or an array ``(N, 7)`` with columns ``image_id, x, y, w, h, score, category_id`` (bbox only).
        iou_type: ``"bbox"`` or ``"segm"`` (results then need ``segmentation``).
        max_dets: detections kept per image, highest scores first (LVIS: 300 over all classes).
        score_thresholds: false positives per image are counted at ``score >= t`` for each ``t``.
        pos_thr / bg_thr: TIDE's foreground and background IoU thresholds.

    Returns a JSON-ready dict: ``tool`` (name and version: label every number with it),
    ``lvis_ap`` (AP, APr, APc, APf of the same run), ``overall`` (``tide_ap``: AP at IoU
    ``pos_thr``, TIDE's baseline; ``dAP`` for :data:`ERROR_TYPES` and the ``FalsePos`` /
    ``FalseNeg`` oracles, ``counts``) and ``groups``
    (per rare / common / frequent: ``tide_ap``, ``dAP`` for :data:`GROUP_DAP`, ``counts`` of
    :data:`FP_TYPES`, ``false_negatives``, ``false_positives`` and ``fp_per_image`` per threshold).
    dAP and AP are fractions (x100 for AP points).
    """
    thrs = _check_args(iou_type, max_dets, score_thresholds, pos_thr, bg_thr)
    hc = _hotcoco()
    tool = tool_version()
    gt_api = hc.COCO(os.fspath(gt) if isinstance(gt, os.PathLike) else gt)
    groups = _groups(gt_api)
    res = os.fspath(results) if isinstance(results, os.PathLike) else results
    if isinstance(res, np.ndarray) and (res.ndim != 2 or res.shape[1] != 7):
        raise ValueError(f"a results array must be (N, 7) [image_id, x, y, w, h, score, category_id], "
                         f"got shape {res.shape}")
    if isinstance(res, np.ndarray) and iou_type == "segm":
        raise ValueError("iou_type 'segm' needs results with 'segmentation' (a json path or a list of dicts)")
    if not isinstance(res, (str, np.ndarray)):
        res = list(res)
        if not res:
            raise ValueError("results are empty: nothing to analyse")
    loaded = gt_api.load_res(res)
    # hotcoco only warns about detections it can never match; a wrong split or label map would
    # then pass as a bad model, so refuse them (as lvis-api's LVISResults does).
    total = len(loaded.get_ann_ids())
    for field, ids in (("image_id", dict(img_ids=gt_api.get_img_ids())), ("category_id",
                                                                         dict(cat_ids=gt_api.get_cat_ids()))):
        known = len(loaded.get_ann_ids(**ids))
        if known != total:
            raise ValueError(f"{total - known} of {total} detections have {field}s that are not in the annotation "
                             f"file; is it the split (and label order) the results were made on?")
    # LVIS's cap: the max_dets highest-scoring detections of each image over all classes.
    dt_api = loaded.cap_detections_per_image(max_dets)
    del loaded
    num_images = len(gt_api.get_img_ids())

    ev = _evaluate(hc, gt_api, dt_api, iou_type, max_dets)
    overall = _tide(ev, pos_thr, bg_thr)
    diag = ev.image_diagnostics(iou_thr=pos_thr, score_thr=1.0)
    ev.accumulate()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # hotcoco prints its summary (we return it) and warns that AR lines follow max_dets != 300
        # (we report no AR)
        warnings.filterwarnings("ignore", message=".*max_dets differ from expected", category=UserWarning)
        ev.summarize()
    lvis_ap = {k: float(v) for k, v in ev.get_results().items() if k in ("AP", "AP50", "APr", "APc", "APf")}
    del ev

    # Status of every evaluated detection / object at IoU pos_thr, from the same matching.
    fp_ids = [i for i, s in diag["dt_status"].items() if s == "fp"]
    fn_ids = [i for i, s in diag["gt_status"].items() if s == "fn"]
    fp_anns = dt_api.load_anns(fp_ids)
    fp_cat = np.array([a["category_id"] for a in fp_anns], dtype=np.int64)
    fp_score = np.array([a["score"] for a in fp_anns], dtype=np.float64)
    del fp_anns
    fn_cat = np.array([a["category_id"] for a in gt_api.load_anns(fn_ids)], dtype=np.int64)
    del diag

    # Categories hotcoco averages over: those with a (non-crowd) object.
    with_gt = {c for c in gt_api.get_cat_ids() if gt_api.get_ann_ids(cat_ids=[c], iscrowd=False)}
    n_all = len(with_gt)
    out_groups: dict[str, dict] = {}
    for name, cats in groups.items():
        n_g = len(with_gt.intersection(cats))
        in_g = np.isin(fp_cat, cats)
        fps = {f"{t:g}": int(np.count_nonzero(in_g & (fp_score >= t))) for t in thrs}
        entry: dict[str, Any] = dict(tool=tool, categories=len(cats), categories_with_gt=n_g,
                                     false_positives=fps,
                                     fp_per_image={k: v / num_images for k, v in fps.items()},
                                     false_negatives=int(np.count_nonzero(np.isin(fn_cat, cats))))
        if n_g == 0 or not cats:
            entry.update(tide_ap=None, dAP={k: None for k in GROUP_DAP}, counts={k: 0 for k in FP_TYPES})
        else:
            # The group's detections against all ground truth (module docstring, "Groups").
            sub = _tide(_evaluate(hc, gt_api, dt_api.filter(cat_ids=cats, drop_empty_images=False), iou_type,
                                  max_dets), pos_thr, bg_thr)
            scale = n_all / n_g
            entry.update(tide_ap=sub["tide_ap"] * scale, dAP={k: sub["dAP"][k] * scale for k in GROUP_DAP},
                         counts={k: sub["counts"][k] for k in FP_TYPES}, _sum_ap=sub["tide_ap"],
                         _sum_dAP={k: sub["dAP"][k] for k in GROUP_DAP})
        out_groups[name] = entry

    checks = _consistency(overall, out_groups)
    for g in out_groups.values():
        g.pop("_sum_ap", None)
        g.pop("_sum_dAP", None)
    overall["tool"] = tool
    overall["false_positives"] = {f"{t:g}": int(np.count_nonzero(fp_score >= t)) for t in thrs}
    overall["fp_per_image"] = {k: v / num_images for k, v in overall["false_positives"].items()}
    overall["false_negatives"] = int(len(fn_cat))
    return dict(tool=tool, iou_type=iou_type, max_dets=int(max_dets), pos_thr=float(pos_thr), bg_thr=float(bg_thr),
                score_thresholds=thrs, num_images=num_images, categories_with_gt=n_all,
                lvis_ap=dict(tool=tool, **lvis_ap), overall=overall, groups=out_groups, checks=checks)


def _consistency(overall: dict, groups: dict[str, dict]) -> dict:
    """Do the groups add up to the full run? (They must: see the module docstring.)"""
    present = [g for g in groups.values() if g["tide_ap"] is not None]
    count_ok = all(sum(g["counts"][k] for g in groups.values()) == overall["counts"][k] for k in FP_TYPES)
    diffs = [abs(sum(g["_sum_ap"] for g in present) - overall["tide_ap"])]
    diffs += [abs(sum(g["_sum_dAP"][k] for g in present) - overall["dAP"][k]) for k in GROUP_DAP]
    max_diff = max(diffs)
    ok = count_ok and max_diff < 1e-9
    if not ok:
        logger.warning("frequency groups do not add up to the full run (counts equal: %s, max |dAP diff| %.2e); "
                       "the per-group numbers may not follow the module's attribution rule", count_ok, max_diff)
    return dict(groups_add_up=bool(ok), fp_counts_equal=bool(count_ok), max_dap_diff=float(max_diff))


def _pts(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}"


def format_report(report: dict) -> str:
    """The report as text tables; every table names the tool and version that produced its numbers."""
    tool = report["tool"]
    lines = [f"{report['iou_type']} at IoU {report['pos_thr']:g} (background below {report['bg_thr']:g}), "
             f"{report['num_images']} images, at most {report['max_dets']} detections per image"]
    ap = report["lvis_ap"]
    lines.append(f"LVIS AP [{tool}]: " + ", ".join(f"{k} {_pts(ap[k])}" for k in ("AP", "APr", "APc", "APf", "AP50")
                                                     if k in ap))
    o = report["overall"]
    ap_name = f"AP{100 * report['pos_thr']:g}"
    lines += ["", f"TIDE errors, all categories, dAP in {ap_name} points [{tool}]  ({ap_name} {_pts(o['tide_ap'])})",
              "  " + "".join(f"{k:>9}" for k in (*ERROR_TYPES, "FalsePos", "FalseNeg")),
              "  " + "".join(f"{_pts(o['dAP'][k]):>9}" for k in (*ERROR_TYPES, "FalsePos", "FalseNeg")),
              f"TIDE error counts, all categories [{tool}]",
              "  " + "".join(f"{k:>9}" for k in ERROR_TYPES),
              "  " + "".join(f"{o['counts'][k]:>9}" for k in ERROR_TYPES)]
    names = list(report["groups"])
    lines += ["", f"By LVIS frequency group of the detection's class [{tool}] "
              f"(Cls / Loc / Miss dAP and Miss count: all categories only, see iif/det_analysis.py)",
              f"  {'':24}" + "".join(f"{n:>10}" for n in names),
              f"  {'categories with objects':24}" + "".join(f"{report['groups'][n]['categories_with_gt']:>10}"
                                                           for n in names),
              f"  {ap_name:24}" + "".join(f"{_pts(report['groups'][n]['tide_ap']):>10}" for n in names)]
    lines += [f"  {'dAP ' + k:24}" + "".join(f"{_pts(report['groups'][n]['dAP'][k]):>10}" for n in names)
              for k in GROUP_DAP]
    lines += [f"  {'count ' + k:24}" + "".join(f"{report['groups'][n]['counts'][k]:>10}" for n in names)
              for k in FP_TYPES]
    lines.append(f"  {'false negatives':24}" + "".join(f"{report['groups'][n]['false_negatives']:>10}"
                                                       for n in names))
    lines += ["", f"False positives per image (evaluated detections unmatched at IoU {report['pos_thr']:g}) "
              f"[{tool} matching]",
              f"  {'score >=':10}" + "".join(f"{n:>10}" for n in (*names, "all"))]
    for t in report["score_thresholds"]:
        key = f"{t:g}"
        vals = [report["groups"][n]["fp_per_image"][key] for n in names] + [o["fp_per_image"][key]]
        lines.append(f"  {key:10}" + "".join(f"{v:>10.3f}" for v in vals))
    c = report["checks"]
    lines += ["", f"check: groups add up to the full run: {'yes' if c['groups_add_up'] else 'NO'} "
              f"(max |dAP difference| {c['max_dap_diff']:.1e})"]
    return "\n".join(lines)
