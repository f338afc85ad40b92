"""Safe (weights-only) loading of MMEngine checkpoints under torch >= 2.6.

MMEngine 0.10 calls ``torch.load`` without ``weights_only``; since torch 2.6 that means
``True``, and MMEngine's checkpoints hold its ``HistoryBuffer`` (the message hub's logs) and the
NumPy arrays and scalars inside it, which the weights-only unpickler refuses, so ``--resume``
failed. Rather than switch safe loading off for the whole process
(``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``: any crafted ``.pth`` could then run code), this allows
exactly the types those checkpoints contain:

- ``mmengine.logging.HistoryBuffer`` (restored through its ``__setstate__``: plain data);
- NumPy's array / scalar / dtype reconstructors (data only);
- ``getattr``, which HistoryBuffer's pickled state uses to name its statistics methods
  (``getattr(HistoryBuffer, "mean")``): replaced by a version that only returns those methods
  of that class, so it cannot be used to reach anything else.

:func:`allow_mmengine_checkpoints` is called when :mod:`mmdet_ext` is imported, so ``mim train
... --resume`` with the plugin in ``custom_imports`` works with nothing set by the user. Only
``torch`` and ``numpy`` are needed here; ``mmengine`` is imported when this runs.
"""
from __future__ import annotations

import pickle
from typing import Any

import torch

__all__ = ["allow_mmengine_checkpoints", "MMENGINE_SAFE_GLOBALS"]

#: Fully qualified names this module adds to torch's weights-only allowlist.
MMENGINE_SAFE_GLOBALS = (
    "mmengine.logging.history_buffer.HistoryBuffer",
    "numpy._core.multiarray._reconstruct",
    "numpy._core.multiarray.scalar",
    "numpy.ndarray",
    "numpy.dtype",
    "builtins.getattr (HistoryBuffer statistics methods only)",
)

_DONE = {"done": False}


def allow_mmengine_checkpoints() -> None:
    """Add the types of MMEngine checkpoints to torch's weights-only allowlist (idempotent)."""
    if _DONE["done"]:
        return
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    statistics = frozenset({"min", "max", "mean", "current"})

    def history_buffer_getattr(obj: Any, name: str) -> Any:
        # The only getattr MMEngine's pickles need: a statistics method of HistoryBuffer.
        if obj is HistoryBuffer and name in statistics:
            return getattr(obj, name)
        raise pickle.UnpicklingError(f"refused getattr({obj!r}, {name!r}) while loading a checkpoint: only "
                                     f"HistoryBuffer statistics methods {sorted(statistics)} are allowed")

    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    safe: list[Any] = [HistoryBuffer, np.ndarray, np.dtype,
                       (multiarray._reconstruct, f"{multiarray.__name__}._reconstruct"),
                       (multiarray.scalar, f"{multiarray.__name__}.scalar"),
                       (history_buffer_getattr, "builtins.getattr")]
    # NumPy 2 pickles dtypes of arrays as numpy.dtypes.<Kind>DType classes in some paths.
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        safe += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType") and n not in ("ObjectDType", "VoidDType")]
    torch.serialization.add_safe_globals(safe)
    _DONE["done"] = True
