"""False-positive analysis (iif.det_analysis, tools/analyze_det.py) on a hand-made LVIS case.

Skipped where hotcoco is missing; requirements-det.txt installs it, so CI runs these.
"""
import json
import os
import subprocess
import sys
from importlib.metadata import version

import numpy as np
import pytest

pytest.importorskip("hotcoco")

from iif.det_analysis import FP_TYPES, analyze_detections, format_report  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = f"hotcoco {version('hotcoco')}"
B = [10.0, 10.0, 100.0, 100.0]  # the box most objects sit in


def _hand_case() -> tuple[dict, list[dict]]:
    """Six 400x400 images, one category per LVIS group: 1 frequent, 2 common, 3 rare.

    image 1: object a1 (cat 1) at B; cat-1 detections at B with 0.9 (TP) and 0.8 -> **Dupe**
    image 2: object a2 (cat 2) at B, cat 3 verified absent (neg); cat-3 detection at B, 0.7 -> **Cls**
             (a rare class on a common object: IoU 1 with an object of another class)
    image 3: object a3 (cat 1) at B; cat-1 detection [10,10,100,40], 0.4: IoU 0.4 in [0.1, 0.5) -> **Loc**
    image 4: object a4 (cat 2) nobody detects -> **Miss**; a cat-1 detection (0.9) where cat 1 is
             neither present nor verified absent: LVIS does not evaluate it (no error)
    image 5: no object, cat 3 verified absent; cat-3 detection, 0.3, overlapping nothing -> **Bkg**
    image 6: object a5 (cat 3) at B detected at 0.95 (TP); object a6 (cat 2) detected at 0.6 (TP);
             cat 2 is not exhaustively annotated here, so its unmatched detection (0.99) is ignored
    a1, a2 and a3 are hit by a Dupe / Cls / Loc error, so only a4 is a Miss.
    """
    cats = [dict(id=1, name="f1", synset="f1.n.01", frequency="f", image_count=500, instance_count=900),
            dict(id=2, name="c1", synset="c1.n.01", frequency="c", image_count=50, instance_count=60),
            dict(id=3, name="r1", synset="r1.n.01", frequency="r", image_count=5, instance_count=5)]
    neg = {2: [3], 5: [3]}
    not_exhaustive = {6: [2]}
    images = [dict(id=i, width=400, height=400, file_name=f"{i:012d}.jpg", neg_category_ids=neg.get(i, []),
                   not_exhaustive_category_ids=not_exhaustive.get(i, [])) for i in range(1, 7)]
    anns = []
    for image_id, cat, box in [(1, 1, B), (2, 2, B), (3, 1, B), (4, 2, [200.0, 200, 50, 50]), (6, 3, B),
                               (6, 2, [300.0, 300, 40, 40])]:
        x, y, w, h = box
        anns.append(dict(id=len(anns) + 1, image_id=image_id, category_id=cat, bbox=box, area=w * h,
                         segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]]))
    dets = [(1, 1, B, 0.9), (1, 1, B, 0.8), (2, 3, B, 0.7), (3, 1, [10.0, 10, 100, 40], 0.4),
            (4, 1, [0.0, 0, 30, 30], 0.9), (5, 3, [50.0, 50, 60, 60], 0.3), (6, 3, B, 0.95),
            (6, 2, [300.0, 300, 40, 40], 0.6), (6, 2, [200.0, 200, 50, 50], 0.99)]
    results = [dict(image_id=i, category_id=c, bbox=b, score=s) for i, c, b, s in dets]
    return dict(images=images, annotations=anns, categories=cats), results


@pytest.fixture
def hand_files(tmp_path):
    gt, res = _hand_case()
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(res))
    return str(tmp_path / "gt.json"), str(tmp_path / "res.json")


def test_hand_case_error_counts_and_fp_per_image(hand_files):
    rep = analyze_detections(*hand_files, score_thresholds=(0.0, 0.5))
    assert rep["tool"] == TOOL and rep["num_images"] == 6
    assert rep["overall"]["counts"] == dict(Cls=1, Loc=1, Both=0, Dupe=1, Bkg=1, Miss=1)
    g = rep["groups"]
    assert g["rare"]["counts"] == dict(Cls=1, Loc=0, Both=0, Dupe=0, Bkg=1)
    assert g["frequent"]["counts"] == dict(Cls=0, Loc=1, Both=0, Dupe=1, Bkg=0)
    assert g["common"]["counts"] == {k: 0 for k in FP_TYPES}
    # False positives are counted by the detection's class: rare 0.7 (Cls) + 0.3 (Bkg), frequent
    # 0.8 (Dupe) + 0.4 (Loc); the unverified 0.9 and the not-exhaustive 0.99 are not evaluated.
    assert g["rare"]["false_positives"] == {"0": 2, "0.5": 1}
    assert g["frequent"]["false_positives"] == {"0": 2, "0.5": 1}
    assert g["common"]["false_positives"] == {"0": 0, "0.5": 0}
    assert g["rare"]["fp_per_image"] == pytest.approx({"0": 2 / 6, "0.5": 1 / 6})
    assert g["frequent"]["fp_per_image"] == pytest.approx({"0": 2 / 6, "0.5": 1 / 6})
    assert rep["overall"]["fp_per_image"] == pytest.approx({"0": 4 / 6, "0.5": 2 / 6})
    # Unmatched objects by their class: a3 (frequent), a2 and a4 (common).
    assert (g["frequent"]["false_negatives"], g["common"]["false_negatives"], g["rare"]["false_negatives"]) == (1, 2, 0)


def test_hand_case_ap50_and_dap(hand_files):
    rep = analyze_detections(*hand_files)
    g = rep["groups"]
    # AP50, 101-point interpolation: rare 1 (its only object found first); common 34/101 (a6 found,
    # 1 of 3 objects at precision 1); frequent 51/101 (a1 found, a3 not: recall 0.5 at precision 1).
    assert g["rare"]["tide_ap"] == pytest.approx(1.0)
    assert g["common"]["tide_ap"] == pytest.approx(34 / 101)
    assert g["frequent"]["tide_ap"] == pytest.approx(51 / 101)
    assert rep["overall"]["tide_ap"] == pytest.approx((1 + 34 / 101 + 51 / 101) / 3)
    # FalseNeg oracle: dropping a3 makes frequent AP50 1.
    assert g["frequent"]["dAP"]["FalseNeg"] == pytest.approx(1 - 51 / 101)
    # Loc fix: the 0.4 box becomes a TP of a3: recall 1 at precision 2/3 -> AP50 (51 + 50 * 2/3) / 101.
    assert rep["overall"]["dAP"]["Loc"] == pytest.approx(((51 + 50 * 2 / 3) / 101 - 51 / 101) / 3)
    # Cls fix credits the object's class: the 0.7 box becomes a TP of a2 (common): 2 of 3 at precision 1.
    assert rep["overall"]["dAP"]["Cls"] == pytest.approx((67 / 101 - 34 / 101) / 3)
    # Miss fix drops a4 from common's objects: 1 of 2 at precision 1 -> 51/101.
    assert rep["overall"]["dAP"]["Miss"] == pytest.approx((51 / 101 - 34 / 101) / 3)
    # FalseNeg drops every unmatched object (a3; a2 and a4): frequent and common AP50 become 1.
    assert rep["overall"]["dAP"]["FalseNeg"] == pytest.approx(((1 - 51 / 101) + (1 - 34 / 101)) / 3)
    assert rep["overall"]["dAP"]["Bkg"] == rep["overall"]["dAP"]["Dupe"] == 0  # both FPs rank below every TP
    assert rep["checks"]["groups_add_up"] and rep["checks"]["fp_counts_equal"]
    assert rep["lvis_ap"]["APr"] == pytest.approx(1.0)


def test_inputs_in_memory_and_as_array(hand_files):
    gt, res = _hand_case()
    from_files = analyze_detections(*hand_files)
    arr = np.array([[d["image_id"], *d["bbox"], d["score"], d["category_id"]] for d in res])
    for results in (res, arr):
        rep = analyze_detections(gt, results)
        assert rep["overall"] == from_files["overall"] and rep["groups"] == from_files["groups"]


def test_segm_uses_the_masks(hand_files):
    gt, res = _hand_case()
    for d in res:  # the boxes as polygons: same IoUs as the boxes
        x, y, w, h = d["bbox"]
        d["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    rep = analyze_detections(gt, res, iou_type="segm")
    assert rep["iou_type"] == "segm" and rep["overall"]["counts"] == dict(Cls=1, Loc=1, Both=0, Dupe=1, Bkg=1, Miss=1)


def test_max_dets_caps_each_image(hand_files):
    # One detection per image keeps the highest: image 1 loses its duplicate, image 6 its 0.95 TP.
    rep = analyze_detections(*hand_files, max_dets=1)
    assert rep["overall"]["counts"]["Dupe"] == 0 and rep["max_dets"] == 1


def test_report_names_the_tool_next_to_every_number(hand_files):
    rep = analyze_detections(*hand_files)
    assert rep["lvis_ap"]["tool"] == rep["overall"]["tool"] == TOOL
    assert all(g["tool"] == TOOL for g in rep["groups"].values())
    text = format_report(rep)
    headers = [line for line in text.splitlines() if line and not line.startswith(" ") and any(c.isdigit() for c in line)
               and not line.startswith(("bbox", "check"))]
    assert headers and all(f"[{TOOL}" in line for line in headers), headers
    assert "Bkg" in text and "rare" in text and "groups add up to the full run: yes" in text


def test_bad_input_errors(hand_files):
    gt, res = _hand_case()
    with pytest.raises(ValueError, match="unknown iou_type 'mask'"):
        analyze_detections(gt, res, iou_type="mask")
    with pytest.raises(ValueError, match="max_dets must be a positive integer"):
        analyze_detections(gt, res, max_dets=0)
    with pytest.raises(ValueError, match="score thresholds must be finite"):
        analyze_detections(gt, res, score_thresholds=(0.5, float("nan")))
    with pytest.raises(ValueError, match=r"pos_thr must be one of LVIS's IoU thresholds 0.5, 0.55, ..., 0.95, got 0.52"):
        analyze_detections(gt, res, pos_thr=0.52)
    with pytest.raises(ValueError, match=r"bg_thr must be in \[0, pos_thr=0.5\)"):
        analyze_detections(gt, res, bg_thr=0.6)
    with pytest.raises(ValueError, match=r"must be \(N, 7\).*got shape \(3, 6\)"):
        analyze_detections(gt, np.zeros((3, 6)))
    with pytest.raises(ValueError, match="results are empty"):
        analyze_detections(gt, [])
    with pytest.raises(ValueError, match="1 of 2 detections have image_ids that are not in the annotation file"):
        analyze_detections(gt, res[:1] + [dict(res[0], image_id=99)])
    with pytest.raises(ValueError, match="1 of 1 detections have category_ids that are not in the annotation file"):
        analyze_detections(gt, [dict(res[0], category_id=7)])
    gt["categories"][1].pop("frequency")
    with pytest.raises(ValueError, match=r"1 categories have no LVIS frequency.*\(2, None\)"):
        analyze_detections(gt, res)


def test_import_iif_does_not_import_hotcoco():
    code = "import sys, iif, iif.det_analysis; assert 'hotcoco' not in sys.modules, 'hotcoco imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr


def test_tool_prints_and_writes_json(hand_files, tmp_path):
    out = tmp_path / "report.json"
    tool = os.path.join(REPO, "tools", "analyze_det.py")
    proc = subprocess.run([sys.executable, tool, hand_files[1], "--ann", hand_files[0], "--out", str(out),
                           "--score-thresholds", "0.5"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert f"TIDE error counts, all categories [{TOOL}]" in proc.stdout
    rep = json.loads(out.read_text())
    assert rep["overall"]["counts"]["Bkg"] == 1 and rep["groups"]["rare"]["false_positives"] == {"0.5": 1}
    bad = subprocess.run([sys.executable, tool, hand_files[1], "--ann", hand_files[0], "--iou-type", "segm",
                          "--max-dets", "0"], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "max_dets must be a positive integer" in bad.stderr


def test_lvis_val_like_generator(tmp_path):
    from iif.bench.det_analysis import write_lvis_val_like

    gt_path, res_path = write_lvis_val_like(str(tmp_path), num_images=30, num_annotations=200, num_categories=25,
                                            per_image=10, seed=1)
    gt, res = json.loads(open(gt_path).read()), json.loads(open(res_path).read())
    assert len(gt["images"]) == 30 and len(gt["annotations"]) == 200 and len(res) == 300
    assert {c["frequency"] for c in gt["categories"]} <= {"r", "c", "f"}
    assert {d["image_id"] for d in res} == {i["id"] for i in gt["images"]}
    assert {d["category_id"] for d in res} <= {c["id"] for c in gt["categories"]}
    # the first detections of an image are its objects, jittered (so AP is neither 0 nor 1)
    first = next(a for a in gt["annotations"])
    det = next(d for d in res if d["image_id"] == first["image_id"])
    assert np.allclose(det["bbox"], first["bbox"], atol=0.6 * max(first["bbox"][2:]))
    rep = analyze_detections(gt_path, res_path)
    assert 0 < rep["lvis_ap"]["AP"] < 1 and rep["checks"]["groups_add_up"]
