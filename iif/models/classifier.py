"""``LTClassifier``: a backbone plus a classifier head, with the freezing the long-tail
recipes need (decoupled classifier retraining, last-block fine-tuning)."""
from __future__ import annotations

import logging
from typing import Optional

from torch import Tensor, nn

__all__ = ["LTClassifier", "TRAINABLE_PARTS", "BN_MODES"]

logger = logging.getLogger(__name__)

TRAINABLE_PARTS = ("all", "classifier", "last_block")

#: What BatchNorm in the frozen part of the backbone does while the rest trains:
#: ``"frozen"``: eval mode, normalising with (and keeping) the stage-1 running statistics;
#: ``"train"``: train mode, normalising with batch statistics and updating the running ones,
#: although no weight there changes (the authors' decoupled stage: ``model.train()`` after
#: freezing the backbone's parameters).
BN_MODES = ("frozen", "train")


class LTClassifier(nn.Module):
    """Images ``(N, C_in, H, W)`` -> backbone -> features ``(N, D)`` -> head -> logits ``(N, C)``.

    Args:
        backbone: module returning pooled features ``(N, D)``.
        head: classifier with ``in_features == D`` and ``num_classes``.
        last_stage: name of the backbone attribute holding its last residual stage (what
            ``set_trainable("last_block")`` unfreezes); defaults to the backbone's
            ``last_stage_name`` attribute.

    Attributes: ``backbone``, ``head``, ``num_features`` (D), ``num_classes`` (C).
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, last_stage: Optional[str] = None) -> None:
        super().__init__()
        num_features = getattr(backbone, "num_features", None)
        if num_features is not None and int(num_features) != int(head.in_features):
            raise ValueError(
                f"head.in_features={head.in_features} does not match backbone.num_features={num_features}"
            )
        self.backbone = backbone
        self.head = head
        self.num_features = int(head.in_features)
        self.num_classes = int(head.num_classes)
        self.last_stage_name = last_stage or getattr(backbone, "last_stage_name", None)
        self._trainable = "all"
        self._bn_mode = "frozen"

    # ------------------------------------------------------------------ forward
    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W) -> (N, D)``."""
        return self.backbone(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W) -> (N, num_classes)`` logits."""
        return self.head(self.backbone(x))

    # ------------------------------------------------------------------ freezing
    @property
    def trainable_part(self) -> str:
        """The part last passed to :meth:`set_trainable` (``"all"`` initially)."""
        return self._trainable

    @property
    def bn_mode(self) -> str:
        """BatchNorm mode of the frozen backbone part (:data:`BN_MODES`; ``"frozen"`` initially)."""
        return self._bn_mode

    def last_stage(self) -> nn.Module:
        """The backbone's last residual stage (``layer4`` for timm ResNets, ``layer3`` for
        ResNet-32 and cnn3)."""
        stage = getattr(self.backbone, self.last_stage_name, None) if self.last_stage_name else None
        if not isinstance(stage, nn.Module):
            raise ValueError(
                f"backbone {type(self.backbone).__name__} has no last stage "
                f"{self.last_stage_name!r}; pass LTClassifier(last_stage=NAME)"
            )
        return stage

    def set_trainable(self, part: str, bn: Optional[str] = None) -> "LTClassifier":
        """Choose what trains: ``"all"``; ``"classifier"`` (head only: the decoupled stage,
        cRT/LWS); ``"last_block"`` (last backbone stage + head: the Places-LT recipe).

        Sets ``requires_grad`` and remembers the choice. ``bn`` (:data:`BN_MODES`; None keeps
        the current mode, ``"frozen"`` initially) says what ``train(True)`` does with the
        frozen part of the backbone: ``"frozen"`` keeps it in eval mode, so its BatchNorm
        layers use and keep their running statistics instead of re-estimating them from
        long-tailed batches; ``"train"`` leaves it in train mode (batch statistics, running
        statistics updated), as the authors' decoupled stage does.
        A head that freezes part of itself (``LWSHead``) keeps doing so.
        """
        if part not in TRAINABLE_PARTS:
            raise ValueError(f"unknown trainable part {part!r}; expected one of {list(TRAINABLE_PARTS)}")
        if bn is not None and bn not in BN_MODES:
            raise ValueError(f"unknown BatchNorm mode {bn!r}; expected one of {list(BN_MODES)}")
        if part == "last_block":
            last = self.last_stage()  # validate before changing anything
        self.backbone.requires_grad_(part == "all")
        if part == "last_block":
            last.requires_grad_(True)
        self.head.requires_grad_(True)
        self._trainable = part
        if bn is not None:
            self._bn_mode = bn
        self.train(self.training)  # refresh train/eval modes of the frozen parts
        n_train = sum(p.numel() for p in self.trainable_parameters())
        logger.info("trainable part %r: %d parameters require grad", part, n_train)
        return self

    def train(self, mode: bool = True) -> "LTClassifier":
        super().train(mode)
        if mode and self._trainable != "all" and self._bn_mode == "frozen":
            self.backbone.train(False)
            if self._trainable == "last_block":
                self.last_stage().train(True)
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters with ``requires_grad`` (what the optimiser should get)."""
        return [p for p in self.parameters() if p.requires_grad]

    # ------------------------------------------------------------------ heads
    def replace_head(self, new_head: nn.Module) -> nn.Module:
        """Swap the classifier (cRT: a fresh head; LWS: ``LWSHead(model.head)``); returns the
        old head. The new head is moved to the model's device, put in the model's train/eval
        mode, and the current :meth:`set_trainable` choice is applied again."""
        if int(new_head.in_features) != self.num_features:
            raise ValueError(
                f"new head has in_features={new_head.in_features}, the backbone gives {self.num_features}"
            )
        ref = next(self.backbone.parameters(), None)
        if ref is not None:
            new_head = new_head.to(device=ref.device)
        old, self.head = self.head, new_head
        self.num_classes = int(new_head.num_classes)
        self.set_trainable(self._trainable)
        return old
