"""CLIP's image and text towers (``open_clip``) as a multi-label classifier, TailCLIP-style.

Each class ``c`` gets a prompt (``"a photo of a {name}."``) whose text-tower embedding ``t_c`` is
the class's weight; an image's embedding ``v`` scores ``logit_c = s * <v / |v|, t_c / |t_c|>`` with
CLIP's learnable ``s = exp(logit_scale)``. Both towers train; the multi-label losses take the
``(N, C)`` logits, and a text-contrastive term (``loss.contrastive_weight``,
:class:`iif.engine.task.TextContrastiveLoss`) reads the embeddings of the last training forward.

Weights come only from a local file: :func:`load_open_clip` refuses anything that is not an
existing file (an open_clip tag such as ``"openai"`` would be a download) and architectures whose
tokenizer or text tower come from the Hugging Face hub. open_clip is imported on first use.
"""
from __future__ import annotations

import logging
import math
import os
import warnings
import zipfile
from typing import Any, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .classifier import BN_MODES

__all__ = ["CLIPClassifier", "CLIPEmbeddings", "build_clip_classifier", "load_open_clip", "resolve_class_names",
           "DEFAULT_TEMPLATE"]

logger = logging.getLogger(__name__)

#: CLIP's plain zero-shot prompt.
DEFAULT_TEMPLATE = "a photo of a {}."
# CLIP caps its temperature: s = exp(logit_scale) <= 100 (the paper clips it during training).
_MAX_LOG_SCALE = math.log(100.0)


class CLIPEmbeddings(NamedTuple):
    """What a training forward exposes for a contrastive loss."""

    image: Tensor  #: ``(N, D)`` unit image embeddings
    text: Tensor  #: ``(C, D)`` unit class-prompt embeddings
    scale: Tensor  #: 0-dim, ``exp(logit_scale)``


def _is_torchscript(path: str) -> bool:
    """OpenAI's released ``RN50.pt`` etc. are TorchScript archives (a zip holding ``constants.pkl``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(name.rsplit("/", 1)[-1] == "constants.pkl" for name in z.namelist())


def _load_torchscript(model: nn.Module, path: str) -> None:
    """Strictly load the tensors of a TorchScript CLIP (OpenAI's release format) into ``model``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        state = torch.jit.load(path, map_location="cpu").state_dict()
    own = model.state_dict()
    # OpenAI's archives also hold three int "tensors" and, scripted, the non-persistent buffers
    # (the text tower's causal mask), which the model rebuilds itself.
    extra = {"input_resolution", "context_length", "vocab_size"} | {n for n, _ in model.named_buffers() if n not in own}
    model.load_state_dict({k: v for k, v in state.items() if k not in extra}, strict=True)


def load_open_clip(arch: str, pretrained: Optional[str | os.PathLike] = None) -> tuple[nn.Module, Any]:
    """An open_clip model ``arch`` and its tokenizer, with weights from the local file ``pretrained``.

    ``pretrained``: an open_clip / OpenAI checkpoint of ``arch`` (state dict, ``.safetensors`` or
    OpenAI's TorchScript ``.pt``), loaded strictly; None: random initialisation. Never a tag:
    open_clip would download it. For OpenAI's weights use the ``-quickgelu`` architectures
    (``RN50-quickgelu``), the activation they were trained with.
    """
    import open_clip
    from open_clip.factory import get_model_config

    cfg = get_model_config(arch)
    if cfg is None:
        raise ValueError(f"unknown open_clip architecture {arch!r}; expected one of open_clip.list_models() "
                         f"(e.g. 'RN50', 'RN50-quickgelu', 'ViT-B-32'), or register one with open_clip.add_model_config")
    text_cfg = cfg.get("text_cfg", {})
    if "hf_model_name" in text_cfg or "hf_tokenizer_name" in text_cfg or "siglip" in arch.lower():
        raise ValueError(f"open_clip architecture {arch!r} takes its text tower or tokenizer from the Hugging Face "
                         f"hub, which would be a download; use a CLIP architecture with open_clip's own tokenizer")
    if pretrained is not None:
        path = os.fspath(pretrained)
        if not os.path.isfile(path):
            known_tag = path in open_clip.list_pretrained_tags_by_model(arch)
            raise FileNotFoundError(
                f"CLIP checkpoint {path!r} is not a file" + (
                    f" ({path!r} is an open_clip download tag; downloads are not allowed: pass the path of a "
                    f"local copy of the weights)" if known_tag else ""))
        # Absolute: open_clip tries `pretrained` as a tag before as a path, and no tag has a '/'.
        path = os.path.abspath(path)
    else:
        path = None
    # torch.load(weights_only=True) refuses TorchScript archives; they are read with torch.jit.load here.
    jit = path is not None and _is_torchscript(path)
    try:
        model = open_clip.create_model(arch, pretrained=None if jit else path, pretrained_image=False,
                                       pretrained_text=False, weights_only=True, device="cpu")
        if jit:
            _load_torchscript(model, path)
    except RuntimeError as err:  # torch's strict load_state_dict: missing / unexpected / shapes
        raise ValueError(f"CLIP checkpoint {path!r} does not fit open_clip architecture {arch!r}: {err}") from err
    tokenizer = open_clip.get_tokenizer(arch)
    logger.info("open_clip %s: %s", arch, f"weights from {path}" if path else "random initialisation")
    return model, tokenizer


def resolve_class_names(class_names: Sequence[str] | str | None, num_classes: int) -> list[str]:
    """A list of names, or a dataset name whose class lists them (``"voc_mlt"``: its ``CLASSES``)."""
    if class_names is None:
        raise ValueError("model 'clip' needs class names for its prompts: model.kwargs.class_names=[...] or a "
                         "dataset name (e.g. 'voc_mlt')")
    if isinstance(class_names, str):
        from ..data.registry import DATASETS

        names = getattr(DATASETS.get(class_names), "CLASSES", None)
        if names is None:
            raise ValueError(f"model.kwargs.class_names={class_names!r}: no dataset of that name lists its classes "
                             f"(CLASSES); give the names as a list")
        class_names = names
    names = [str(n) for n in class_names]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for {num_classes} classes")
    return names


class CLIPClassifier(nn.Module):
    """Images ``(N, 3, H, W)`` -> ``(N, C)`` logits ``s * cos(image embedding, class-prompt embedding)``.

    Args:
        clip: an open_clip ``CLIP`` (``encode_image``, ``encode_text``, ``logit_scale``, ``visual``).
        tokenizer: its tokenizer (list of strings -> ``(C, L)`` token ids).
        class_names: one name per class, put into ``template``.

    Attributes: ``clip``, ``num_classes`` (C), ``num_features`` (D, the joint embedding size),
    ``last_embeddings`` (:class:`CLIPEmbeddings` of the last forward in training mode with grad).
    """

    def __init__(self, clip: nn.Module, tokenizer: Any, class_names: Sequence[str],
                 template: str = DEFAULT_TEMPLATE) -> None:
        super().__init__()
        if "{}" not in template:
            raise ValueError(f"prompt template {template!r} needs a '{{}}' for the class name")
        self.clip = clip
        self.template = template
        self.class_names = list(class_names)
        # Not persistent: checkpoints hold weights; the prompts are rebuilt from the config.
        self.register_buffer("prompt_tokens", tokenizer([template.format(n) for n in self.class_names]),
                             persistent=False)
        self.num_classes = len(self.class_names)
        self.num_features = int(clip.text_projection.shape[-1]) if getattr(clip, "text_projection", None) is not None \
            else int(clip.visual.output_dim)
        self.last_embeddings: Optional[CLIPEmbeddings] = None
        self._trainable = "all"
        self._bn_mode = "frozen"

    def class_embeddings(self) -> Tensor:
        """``(C, D)`` unit text embeddings of the class prompts."""
        return F.normalize(self.clip.encode_text(self.prompt_tokens), dim=-1)

    def forward(self, x: Tensor, return_embeddings: bool = False) -> Tensor | tuple[Tensor, CLIPEmbeddings]:
        """``(N, 3, H, W)`` -> logits ``(N, C)`` (and the :class:`CLIPEmbeddings` when asked)."""
        image = F.normalize(self.clip.encode_image(x), dim=-1)
        text = self.class_embeddings()
        scale = self.clip.logit_scale.clamp(max=_MAX_LOG_SCALE).exp().reshape(())
        logits = scale * image @ text.t()
        emb = CLIPEmbeddings(image, text, scale)
        # The trainer calls model(images) and then its loss on the logits: a contrastive term
        # finds the embeddings here. Only in training, so evaluation holds no graph.
        self.last_embeddings = emb if self.training and torch.is_grad_enabled() else None
        return (logits, emb) if return_embeddings else logits

    # ------------------------------------------------------------------ freezing, as LTClassifier's
    def set_trainable(self, part: str, bn: Optional[str] = None) -> "CLIPClassifier":
        """``"all"``: both towers; ``"classifier"``: the text tower and ``logit_scale`` (the image
        tower frozen, in eval mode under ``bn="frozen"``). ``"last_block"`` is refused."""
        if part not in ("all", "classifier"):
            raise ValueError(f"model 'clip' trains 'all' or 'classifier' (the text tower), not {part!r}")
        if bn is not None and bn not in BN_MODES:
            raise ValueError(f"unknown BatchNorm mode {bn!r}; expected one of {list(BN_MODES)}")
        self.clip.requires_grad_(True)
        if part == "classifier":
            self.clip.visual.requires_grad_(False)
        self._trainable = part
        if bn is not None:
            self._bn_mode = bn
        self.train(self.training)
        return self

    def train(self, mode: bool = True) -> "CLIPClassifier":
        super().train(mode)
        if mode and self._trainable != "all" and self._bn_mode == "frozen":
            self.clip.visual.train(False)
        return self

    def replace_head(self, new_head: nn.Module) -> nn.Module:
        raise ValueError("model 'clip' has no separate classifier to replace (its classes are text prompts); "
                         "use strategy.type='end-to-end' or strategy.method='iif'")


def build_clip_classifier(num_classes: int, in_chans: int = 3, pretrained: Optional[str | os.PathLike] = None,
                          arch: str = "RN50", class_names: Sequence[str] | str | None = None,
                          template: str = DEFAULT_TEMPLATE) -> CLIPClassifier:
    """The ``clip`` model of :func:`iif.models.build_model`: open_clip ``arch`` with weights from
    the local file ``pretrained`` (None: random), one prompt per class from ``class_names``."""
    if in_chans != 3:
        raise ValueError(f"model 'clip' takes RGB images (in_chans=3), got in_chans={in_chans}")
    names = resolve_class_names(class_names, num_classes)
    clip, tokenizer = load_open_clip(arch, pretrained)
    return CLIPClassifier(clip, tokenizer, names, template)
