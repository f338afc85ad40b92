"""Losses with one calling convention ``(logits, target, ...)``, a module beside each function.

- :mod:`.softmax`: IIF cross-entropy and the single-label long-tail baselines;
- :mod:`.reslt`: ResLT's loss over head / medium / tail branch logits ``(3, N, C)``;
- :mod:`.sigmoid`: multi-label losses on multi-hot targets ``(N, C)`` (BCE, focal, ASL, DB-Focal,
  BAL, IIF-BCE) and CLIP's contrastive loss;
- :mod:`.registry`: :data:`LOSSES` / :func:`build_loss`, by the names configs use.

The public names stay ``iif.<name>`` whichever submodule defines them.
"""
from .registry import LOSSES, MULTILABEL_LOSSES, build_loss
from .reslt import RESLT_BRANCHES, RESLT_IIF_ON, ResLTLoss, reslt_groups, reslt_loss
from .softmax import *  # noqa: F401,F403
from .sigmoid import *  # noqa: F401,F403
from .sigmoid import __all__ as _sigmoid_all
from .softmax import __all__ as _softmax_all
from .softmax import _full_weights, _scaled_logits, _weights_like, check_tau  # noqa: F401  (used by iif.posthoc)

__all__ = list(_softmax_all) + list(_sigmoid_all) + [
    "LOSSES", "MULTILABEL_LOSSES", "build_loss", "reslt_loss", "reslt_groups", "ResLTLoss", "RESLT_BRANCHES",
    "RESLT_IIF_ON"]
