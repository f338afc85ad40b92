"""Shared guard of the detection test modules."""
import os

import pytest


def require_det() -> None:
    """Skip the calling test module when the detection stack is missing; under ``IIF_REQUIRE_DET=1``
    (``make test``, CI) import it instead, so a broken install fails rather than skips."""
    if os.environ.get("IIF_REQUIRE_DET"):
        import mmcv.ops  # noqa: F401
        import mmdet  # noqa: F401
    else:
        pytest.importorskip("mmcv.ops", reason="detection stack not installed (scripts/setup.sh det)")
        pytest.importorskip("mmdet")
