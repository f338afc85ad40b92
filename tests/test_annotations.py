import json

import numpy as np
import pytest
import torch

import iif


def lvis_like():
    """3 categories over 5 images; category 7 appears twice in image 1."""
    images = [{"id": i} for i in range(1, 6)]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 7},
        {"id": 2, "image_id": 1, "category_id": 7},
        {"id": 3, "image_id": 2, "category_id": 7},
        {"id": 4, "image_id": 2, "category_id": 3},
        {"id": 5, "image_id": 3, "category_id": 3},
        {"id": 6, "image_id": 4, "category_id": 3},
        {"id": 7, "image_id": 4, "category_id": 11},
    ]
    # Categories deliberately out of id order.
    cats = [
        {"id": 7, "name": "cat", "image_count": 2, "instance_count": 3},
        {"id": 3, "name": "dog", "image_count": 3, "instance_count": 3},
        {"id": 11, "name": "gnu", "image_count": 1, "instance_count": 1},
    ]
    return {"images": images, "annotations": anns, "categories": cats}


def test_counts_from_dict_and_file(tmp_path):
    data = lvis_like()
    p = tmp_path / "train.json"
    p.write_text(json.dumps(data))
    for src in (data, p, str(p)):
        f = iif.frequencies_from_annotations(src)
        np.testing.assert_array_equal(f.category_ids, [3, 7, 11])
        assert f.names == ("dog", "cat", "gnu")
        np.testing.assert_array_equal(f.image_counts, [3, 2, 1])
        np.testing.assert_array_equal(f.instance_counts, [3, 3, 1])
        assert (f.num_images, f.num_annotations, f.num_classes) == (5, 7, 3)


def test_k_rule_image_vs_instance():
    data = lvis_like()
    iif_w = iif.weights_from_annotations(data, "raw", kind="image")
    torch.testing.assert_close(iif_w, torch.log(torch.tensor([5 / 3, 5 / 2, 5 / 1])))
    iof_w = iif.weights_from_annotations(data, "raw", kind="instance")
    torch.testing.assert_close(iof_w, torch.log(torch.tensor([7 / 3, 7 / 3, 7 / 1])))
    with pytest.raises(ValueError, match=r"unknown frequency kind 'box'"):
        iif.weights_from_annotations(data, kind="box")


def test_mismatch_with_lvis_fields_is_an_error():
    data = lvis_like()
    data["categories"][0]["image_count"] = 9
    with pytest.raises(ValueError, match=r"image_count disagrees.*id 7: file says 9, annotations give 2"):
        iif.frequencies_from_annotations(data)
    assert iif.frequencies_from_annotations(data, verify=False).image_counts.tolist() == [3, 2, 1]


def test_coco_without_count_fields():
    data = lvis_like()
    for c in data["categories"]:
        del c["image_count"], c["instance_count"]
    assert iif.frequencies_from_annotations(data).instance_counts.tolist() == [3, 3, 1]


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        iif.frequencies_from_annotations(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="no 'annotations' list"):
        iif.frequencies_from_annotations({"images": [], "categories": []})
    data = lvis_like()
    data["annotations"].append({"id": 8, "image_id": 5, "category_id": 99})
    with pytest.raises(ValueError, match=r"category ids \[99\]"):
        iif.frequencies_from_annotations(data)


def test_zero_count_category_needs_smooth():
    data = lvis_like()
    data["categories"].append({"id": 20, "name": "yak"})
    for c in data["categories"]:
        c.pop("image_count", None), c.pop("instance_count", None)
    with pytest.raises(ValueError, match=r"zero frequency: \[3\].*smooth"):
        iif.weights_from_annotations(data, "raw")
    assert torch.isfinite(iif.weights_from_annotations(data, "smooth")).all()


def test_in_order_follows_a_label_order():
    f = iif.frequencies_from_annotations(lvis_like())
    g = f.in_order([11, 3, 7])
    assert g.names == ("gnu", "dog", "cat") and g.image_counts.tolist() == [1, 3, 2]
    assert g.instance_counts.tolist() == [1, 3, 3] and g.num_images == 5
    with pytest.raises(ValueError, match=r"category ids \[4\] are not in the annotation file"):
        f.in_order([11, 3, 4])
    with pytest.raises(ValueError, match="has 3 categories, the model 2 classes"):
        f.in_order([11, 3])


def test_weights_csv_roundtrip(tmp_path):
    from iif.weights_io import load_weights_csv, save_weights_csv

    p = str(tmp_path / "w.csv")
    w = iif.weights_from_annotations(lvis_like(), "base10", kind="instance")
    save_weights_csv(p, w, [3, 7, 11], ["dog", "cat", "gnu"])
    back, ids = load_weights_csv(p, num_classes=3)
    torch.testing.assert_close(back, w)
    assert ids == [3, 7, 11]
    with pytest.raises(ValueError, match=r"has 3 class weights but the model has num_classes=4"):
        load_weights_csv(p, num_classes=4)
    (tmp_path / "bad.csv").write_text("category_id,weight\n1,abc\n")
    with pytest.raises(ValueError, match="must be a number"):
        load_weights_csv(str(tmp_path / "bad.csv"))
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_weights_csv(str(tmp_path / "nope.csv"))


def test_iif_weights_tool(tmp_path, capsys):
    import importlib.util
    import os

    from iif.weights_io import load_weights_csv

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "iif_weights.py")
    spec = importlib.util.spec_from_file_location("iif_weights", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    ann = tmp_path / "a.json"
    ann.write_text(json.dumps(lvis_like()))
    out = tmp_path / "w.csv"
    assert tool.main(["--ann-file", str(ann), "--variant", "raw", "--kind", "instance", "--out", str(out)]) == 0
    w, ids = load_weights_csv(str(out))
    assert ids == [3, 7, 11]
    torch.testing.assert_close(w, torch.log(torch.tensor([7 / 3, 7 / 3, 7 / 1])))
    assert "gnu" in capsys.readouterr().out
    assert tool.main(["--counts", "10", "0", "--variant", "raw"]) == 2
    assert "zero frequency: [1]" in capsys.readouterr().err
