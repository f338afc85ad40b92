"""The package's promises: `import iif` stays light, and the README's API table is what exists."""
import subprocess
import sys


def test_import_iif_needs_only_torch_numpy_scipy():
    # (tqdm is not checked: torch itself imports it.)
    code = ("import sys, iif; heavy = [m for m in ('torchvision', 'timm', 'mmengine', 'mmdet', 'mmcv') "
            "if m in sys.modules]; print(iif.VARIANTS); assert not heavy, heavy")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "'raw', 'smooth', 'rel', 'base2', 'base10', 'gombit', 'normit'" in out.stdout


def test_public_api():
    import iif

    for name in ["compute_weights", "class_counts", "frequencies_from_annotations", "weights_from_annotations",
                 "iif_cross_entropy", "IIFCrossEntropy", "balanced_softmax_loss", "logit_adjusted_cross_entropy",
                 "ldam_loss", "LDAMLoss", "cost_sensitive_cross_entropy", "focal_loss", "build_loss",
                 "adjust_logits", "logit_adjustment", "tau_normalize", "per_class_accuracy", "shot_accuracy",
                 "effective_number_weights", "log_prior"]:
        assert callable(getattr(iif, name)), name
