"""CLIP's image and text towers (``open_clip``) as a multi-label classifier, TailCLIP-style.

Each class ``c`` gets a prompt (``"a photo of a {name}."``) whose text-tower embedding ``t_c`` is
the class's weight; an image's embedding ``v`` scores ``logit_c = s * <v / |v|, t_c / |t_c|>`` with
CLIP's learnable ``s = exp(logit_scale)``. Both towers train; the multi-label losses take the
``(N, C)`` logits, and a text-contrastive term (``loss.contrastive_weight``,
:class:`iif.engine.task.TextContrastiveLoss`) reads the embeddings of the last training forward.

Weights come only from a local file: :func:`load_open_clip` refuses anything that is not an
existing file (an open_clip tag such as ``"openai"`` would be a download) and architectures whose
tokenizer or text tower come from the Hugging Face hub. open_clip is imported on first use.

State dicts load safely (``weights_only=True``, after :func:`iif.safe_load.check_torch_file`).
OpenAI's released ``RN50.pt`` etc. are TorchScript archives, and ``torch.jit.load`` runs code
stored in the archive, so one is read only under ``--unsafe-load``
(:func:`iif.safe_load.allow_unsafe_load`). Better, convert a trusted archive once to a state dict
and use that from then on::

    python -m iif.models.clip --unsafe-load --arch RN50-quickgelu RN50.pt RN50-quickgelu.pth
"""
from __future__ import annotations

import logging
import math
import os
import pickle
import sys
import warnings
from typing import Any, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..safe_load import check_archive, check_torch_file, error_cause, is_torchscript, unsafe_load_allowed
from .classifier import BN_MODES

__all__ = ["CLIPClassifier", "CLIPEmbeddings", "build_clip_classifier", "load_open_clip", "resolve_class_names",
           "convert_torchscript", "DEFAULT_TEMPLATE"]

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


def _refuse_torchscript(path: str) -> None:
    """``torch.jit.load`` runs code stored in the archive: only under ``--unsafe-load``."""
    if not unsafe_load_allowed():
        raise ValueError(
            f"CLIP checkpoint {path!r} is a TorchScript archive (OpenAI's release format): loading one runs code "
            f"stored in it. Expected a state dict (torch.save / .safetensors). If you trust the file, convert it "
            f"once: `python -m iif.models.clip --unsafe-load --arch ARCH {path} OUT.pth`, and use OUT.pth; or "
            f"pass --unsafe-load to load it as it is")


def _load_torchscript(model: nn.Module, path: str) -> None:
    """Strictly load the tensors of a TorchScript CLIP (OpenAI's release format) into ``model``
    (only under ``--unsafe-load``)."""
    _refuse_torchscript(path)
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
    jit = False
    if path is not None:
        if path.lower().endswith((".npz", ".npy")):  # open_clip would read them as big_vision (SigLIP) weights
            raise ValueError(f"CLIP checkpoint {path!r}: NumPy (big_vision) weights are not read; expected an "
                             f"open_clip state dict (.pt / .pth / .safetensors)")
        # Bombs, TorchScript and pickled globals are refused before anything is read (iif.safe_load).
        check_archive(path, "CLIP checkpoint")
        jit = is_torchscript(path)
        if jit:
            _refuse_torchscript(path)
        else:
            check_torch_file(path, "CLIP checkpoint")
    try:
        # torch.load(weights_only=True) refuses TorchScript archives; they are read with torch.jit.load here.
        model = open_clip.create_model(arch, pretrained=None if jit else path, pretrained_image=False,
                                       pretrained_text=False, weights_only=not unsafe_load_allowed(), device="cpu")
        if jit:
            _load_torchscript(model, path)
    except pickle.UnpicklingError as err:
        text = str(err)
        if "GLOBAL " in text:
            blocked = text.split("GLOBAL ", 1)[1].split()[0]
            raise ValueError(f"CLIP checkpoint {path!r} holds Python objects that safe loading refuses (it needs "
                             f"{blocked}); if you trust the file, pass --unsafe-load") from None
        raise ValueError(f"CLIP checkpoint {path!r} is not a readable torch file (truncated, corrupt or another "
                         f"format): {error_cause(err)}") from None
    except RuntimeError as err:  # torch's strict load_state_dict: missing / unexpected / shapes
        if "loading state_dict" not in str(err):
            raise ValueError(f"CLIP checkpoint {path!r} is not a readable torch file (truncated, corrupt or another "
                             f"format): {error_cause(err)}") from None
        raise ValueError(f"CLIP checkpoint {path!r} does not fit open_clip architecture {arch!r}: {err}") from err
    except (EOFError, KeyError, AttributeError, TypeError, StopIteration, IndexError, MemoryError) as err:
        raise ValueError(f"CLIP checkpoint {path!r} is not an open_clip state dict of {arch!r}: "
                         f"{type(err).__name__}: {err}") from None
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


def convert_torchscript(src: str | os.PathLike, dst: str | os.PathLike, arch: str) -> str:
    """Convert a trusted TorchScript CLIP (OpenAI's ``RN50.pt``) to an open_clip state dict at ``dst``,
    which :func:`load_open_clip` then reads safely. Runs ``torch.jit.load``: needs
    :func:`iif.safe_load.allow_unsafe_load` (``--unsafe-load``). Returns ``dst``."""
    src, dst = os.fspath(src), os.fspath(dst)
    if not os.path.isfile(src):
        raise FileNotFoundError(f"CLIP checkpoint {src!r} does not exist")
    if not is_torchscript(src):
        raise ValueError(f"{src!r} is not a TorchScript archive; a state dict needs no conversion")
    model, _ = load_open_clip(arch, src)  # refused without --unsafe-load
    from ..engine.checkpoint import atomic_save  # deferred: the engine imports the models

    atomic_save(model.state_dict(), dst)
    return dst


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m iif.models.clip --unsafe-load --arch ARCH SRC.pt DST.pth``: see :func:`convert_torchscript`."""
    import argparse

    from ..engine.cli import add_common_flags, cli_entry

    @cli_entry
    def run(args_list: Optional[Sequence[str]]) -> int:
        ap = argparse.ArgumentParser(prog="python -m iif.models.clip",
                                     description="Convert a trusted TorchScript CLIP archive (OpenAI's RN50.pt) once "
                                                 "to an open_clip state dict that loads safely.")
        ap.add_argument("--arch", required=True, help="open_clip architecture, e.g. RN50-quickgelu")
        ap.add_argument("src", help="the TorchScript archive")
        ap.add_argument("dst", help="where to write the state dict (.pth)")
        add_common_flags(ap)
        args = ap.parse_args(args_list)
        if not args.unsafe_load:
            raise ValueError(f"converting {args.src!r} runs torch.jit.load, which runs code stored in the archive: "
                             f"pass --unsafe-load if you trust the file")
        print(f"wrote {convert_torchscript(args.src, args.dst, args.arch)}")
        return 0

    return run(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
