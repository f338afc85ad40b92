"""Experiment configs: MMEngine-style Python files with ``_base_`` inheritance, checked against a schema.

MMEngine's ``Config`` accepts any key, so a typo (``optimizer.wd=0``) would silently do
nothing. :func:`load_config` fills every key from :data:`DEFAULTS` and rejects keys the
schema does not know and values of the wrong type, naming the key and the allowed ones.
Sections listed in :data:`OPEN_SECTIONS` are keyword arguments forwarded to a builder
(a loss, a transform, a dataset), which validates them itself.
"""
from __future__ import annotations

import copy
import math
import os
import re
from typing import Any, Mapping

from mmengine.config import Config, DictAction

from ..weights import VARIANTS

__all__ = ["DEFAULTS", "OPEN_SECTIONS", "STRATEGIES", "LATER_DEFAULTS", "OPTIMIZERS", "load_config", "validate_config",
           "with_later_defaults", "without_later_defaults", "ConfigError", "CfgOptionsAction"]

STRATEGIES = ("end-to-end", "decoupled", "post-process")

#: ``optimizer.type``: SGD (momentum, Nesterov) or AdamW (betas; TailCLIP's recipe).
OPTIMIZERS = ("sgd", "adamw")

#: Every key a classification config may set, with its default. ``None`` defaults accept any type.
DEFAULTS: dict[str, Any] = dict(
    work_dir=None,  # default: work_dirs/<config folder>/<config file stem>
    seed=0,
    device="auto",  # "auto" = cuda if available, else cpu
    # "single_label" (softmax, top-1) | "multi_label" (sigmoid, mAP) | None: the dataset's (iif.engine.task)
    task=None,
    data=dict(
        name="fashion_mnist_lt",
        root=None,  # None: the fetched cache for (fashion_)mnist; required for the others
        kwargs=dict(),  # forwarded to iif.data.build_dataset (imbalance_factor, split_file, ...)
        batch_size=128,
        test_batch_size=256,
        num_workers=0,
        # "auto": an in-memory dataset whose transforms run batched (crop + flip + AutoAugment +
        # Cutout) is augmented a batch at a time on the training device (iif.data.batched), others
        # go through a DataLoader; "dataloader" | "tensor" force one (tensor: an error if it can't).
        loader="auto",
        sampler=None,  # None | "balanced" | "sqrt" | "rfs" (iif.data.ClassAwareSampler); multi-label: "occurrence" | "class_aware"
        sampler_kwargs=dict(),  # forwarded to the sampler (e.g. k of the occurrence sampler, rfs_threshold)
        train_transform=dict(),  # forwarded to iif.data.build_transform(train=True, ...)
        test_transform=dict(),
        eval_split="test",  # "val" to tune; report test
        fake=False,  # random images of the dataset's shape: smoke tests without data
        fake_size=64,
    ),
    model=dict(
        name="cnn3",
        head="linear",  # "linear" | "cosine" | "cosine_learnable"
        scale=16.0,  # cosine heads' s (the initial s when learnable)
        feature_norm="unit",  # cosine heads: "unit" (s*cos) | "squash" (s*||x||/(1+||x||)*cos, authors' code)
        scale_param="log",  # learnable s: "log" (exp(log_scale), no decay) | "square" (p**2, p0=sqrt(scale), decayed; authors')
        in_chans=3,
        pretrained=None,  # local checkpoint path; nothing is downloaded
        trainable="all",  # "all" | "last_block" (Places-LT recipe) | "classifier"
        # ResLT (Cui et al., TPAMI 2022): head/medium/tail branches between backbone and head, trained
        # with loss.type="reslt". form: "auto" ("conv" for timm backbones, "bn" otherwise) | "bn" | "conv";
        # gamma: test-time classifier W_c / ||W_c||^gamma, bias dropped (0: none; linear head only).
        reslt=dict(enabled=False, form="auto", gamma=0.0),
        kwargs=dict(),
    ),
    loss=dict(type="ce"),  # iif.build_loss(type, counts, **rest)
    # type "sgd" uses momentum / nesterov, "adamw" uses betas (AdamW's decoupled weight decay)
    optimizer=dict(type="sgd", lr=0.1, momentum=0.9, nesterov=False, weight_decay=5e-4, betas=[0.9, 0.999]),
    schedule=dict(
        epochs=8, type="cosine", milestones=[], gamma=0.1,  # type: "cosine" | "multistep" | "constant"
        warmup_epochs=0,
        # None: the warm-up factor is (it+1)/W over W = warmup_epochs of iterations. A number s
        # in (0, 1]: it rises linearly from s, reaching 1 after min(warmup_max_iters, W - 1)
        # iterations (the authors' / torchvision references' warm-up: s=1e-3, 1 epoch, cap 1000).
        warmup_start_factor=None,
        warmup_max_iters=None,
    ),
    mixup=dict(alpha=0.0),
    strategy=dict(
        type="end-to-end",
        load_from=None,  # stage-1 checkpoint for decoupled / post-process
        method="iif",  # decoupled: "iif" (retrain classifier with `loss`), "crt", "lws"
        bn="frozen",  # BatchNorm of a frozen backbone part: "frozen" (eval mode) | "train" (batch stats; authors')
        freeze_scale=False,  # decoupled: keep a learnable cosine scale fixed (authors' decoupled stage)
        # decoupled: compute the frozen backbone's features once, then train the head on them
        # (iif.engine.feature_cache). True: only where they are the same every epoch (bn="frozen", a
        # training transform without random draws, no mixup), else refused naming why;
        # "approximate": anyway (eval-mode BatchNorm, test transform, mixup on the features).
        feature_cache=False,
    ),
    train=dict(
        amp=False,  # autocast (bf16 on CPU, fp16 + GradScaler on CUDA)
        channels_last=False,
        compile=False,
        max_iters=None,  # stop each epoch after this many iterations (smoke tests)
        eval_interval=0,  # evaluate every N epochs (0: only at the end)
        log_interval=50,
        tensorboard=False,
        threads=None,  # torch.set_num_threads; None: torch's default. 1 is fastest when jobs share the cores
    ),
    # posthoc: "auto" scores post-hoc adjustments (post-process IIF, logit adjustment) of a plain
    # softmax model only; "always" also of other models (a ResLT model, say); "never" skips them.
    evaluate=dict(variants=list(VARIANTS), logit_adjust_taus=[1.0], posthoc="auto"),
)

#: Sections whose keys are forwarded to a builder that validates them.
OPEN_SECTIONS = frozenset({"data.kwargs", "data.sampler_kwargs", "data.train_transform", "data.test_transform",
                           "model.kwargs", "loss"})

#: Keys added to the schema after runs were stored, with the default that reproduces the behaviour
#: from before them: a stored config without one reads as having that value, so resuming an older
#: run and its cached logits still match (:func:`with_later_defaults`).
LATER_DEFAULTS: dict[str, Any] = {"task": None, "data.sampler_kwargs": {}, "optimizer.type": "sgd",
                                  "optimizer.betas": [0.9, 0.999], "data.loader": "dataloader",
                                  "strategy.feature_cache": False}

_CHOICES = {
    "strategy.type": STRATEGIES,
    "strategy.method": ("iif", "crt", "lws"),
    "schedule.type": ("cosine", "multistep", "constant"),
    "model.trainable": ("all", "last_block", "classifier"),
    "model.head": ("linear", "cosine", "cosine_learnable"),
    "model.reslt.form": ("auto", "bn", "conv"),
    "evaluate.posthoc": ("auto", "always", "never"),
    "model.feature_norm": ("unit", "squash"),
    "model.scale_param": ("log", "square"),
    "strategy.bn": ("frozen", "train"),
    "optimizer.type": OPTIMIZERS,
    "data.loader": ("auto", "dataloader", "tensor"),
}


#: Keys of more than one type, checked by a function of their own after the merge.
_OWN_CHECK = frozenset({"strategy.feature_cache"})  # False | True | "approximate": check_feature_cache_config

#: Keys whose default is ``None`` but whose value, when set, must have one of these types.
_NULLABLE: dict[str, tuple[type, ...]] = {
    "work_dir": (str,),
    "task": (str,),
    "data.root": (str,),
    "data.sampler": (str,),
    "model.pretrained": (str,),
    "strategy.load_from": (str,),
    "train.max_iters": (int,),
    "train.threads": (int,),
}

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class ConfigError(ValueError):
    """A config key or value that the schema rejects."""


def _joined(errors: list[str]) -> str:
    """One line for one problem; a list for several."""
    if len(errors) == 1:
        return f"invalid config: {errors[0]}"
    return "invalid config:\n  " + "\n  ".join(errors)


def _type_ok(default: Any, value: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    if isinstance(default, dict):
        return isinstance(value, Mapping)
    return isinstance(value, type(default))


def _check(cfg: Mapping[str, Any], schema: Mapping[str, Any], prefix: str, errors: list[str]) -> None:
    for key, value in cfg.items():
        path = f"{prefix}{key}"
        if key not in schema:
            errors.append(f"unknown key {path!r}; allowed keys here: {sorted(schema)}")
            continue
        default = schema[key]
        if path in _OWN_CHECK:
            continue
        if default is None and value is not None and path in _NULLABLE:
            types = _NULLABLE[path]
            if isinstance(value, bool) or not isinstance(value, types):
                names = " or ".join(t.__name__ for t in types)
                errors.append(f"{path} must be {names} or None, got {value!r} ({type(value).__name__})")
            continue
        if not _type_ok(default, value):
            errors.append(f"{path} must be {type(default).__name__}, got {value!r} ({type(value).__name__})")
            continue
        if path in _CHOICES and value not in _CHOICES[path]:
            errors.append(f"{path}={value!r} is not one of {list(_CHOICES[path])}")
        if isinstance(default, dict) and path not in OPEN_SECTIONS and isinstance(value, Mapping):
            _check(value, default, path + ".", errors)


def _merge(defaults: Mapping[str, Any], cfg: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(defaults))
    for key, value in cfg.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict) and key != "loss":
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _check_warmup(sch: Mapping[str, Any]) -> list[str]:
    """The warm-up keys that default to None (any type) checked by hand."""
    out = []
    s, cap = sch["warmup_start_factor"], sch["warmup_max_iters"]
    if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s <= 1):
        out.append(f"schedule.warmup_start_factor must be None or a number in (0, 1], got {s!r}")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        out.append(f"schedule.warmup_max_iters must be None or a positive integer, got {cap!r}")
    if cap is not None and s is None:
        out.append("schedule.warmup_max_iters needs schedule.warmup_start_factor (the capped warm-up is the "
                   "start-factor form); set both, or neither")
    return out


def _check_optimizer(o: Mapping[str, Any]) -> list[str]:
    """AdamW's betas: two numbers in [0, 1)."""
    b = o["betas"]
    if (len(b) != 2 or any(isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 <= x < 1 for x in b)):
        return [f"optimizer.betas must be two numbers in [0, 1), got {list(b)!r}"]
    return []


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _check_values(cfg: Mapping[str, Any]) -> list[str]:
    """Numbers whose type is right but whose value no run can use (torch would refuse some later,
    without naming the key; others would be used silently: a batch of 0 became 1)."""
    def integer(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    out = []
    seed = cfg["seed"]
    if not (integer(seed) and 0 <= seed < 2**32):  # numpy's legacy seeding (CIFAR-LT subsets) takes [0, 2**32)
        out.append(f"seed must be an integer in [0, 2**32), got {seed!r}")
    d = cfg["data"]
    for key, low in (("batch_size", 1), ("test_batch_size", 1), ("num_workers", 0), ("fake_size", 1)):
        if not (integer(d[key]) and d[key] >= low):
            out.append(f"data.{key} must be an integer >= {low}, got {d[key]!r}")
    o = cfg["optimizer"]
    if not (_number(o["lr"]) and o["lr"] > 0):
        out.append(f"optimizer.lr must be a finite number > 0, got {o['lr']!r}")
    for key in ("momentum", "weight_decay"):
        if not (_number(o[key]) and o[key] >= 0):
            out.append(f"optimizer.{key} must be a finite number >= 0, got {o[key]!r}")
    sch = cfg["schedule"]
    if not (_number(sch["gamma"]) and sch["gamma"] > 0):
        out.append(f"schedule.gamma must be a finite number > 0, got {sch['gamma']!r}")
    if not (_number(sch["warmup_epochs"]) and sch["warmup_epochs"] >= 0):
        out.append(f"schedule.warmup_epochs must be a finite number >= 0, got {sch['warmup_epochs']!r}")
    milestones = sch["milestones"] if isinstance(sch["milestones"], (list, tuple)) else [None]
    if any(not integer(m) or m < 0 for m in milestones):
        out.append(f"schedule.milestones must be epoch numbers (integers >= 0), got {sch['milestones']!r}")
    alpha = cfg["mixup"]["alpha"]
    if not (_number(alpha) and alpha >= 0):
        out.append(f"mixup.alpha must be a finite number >= 0 (0: no mixup), got {alpha!r}")
    return out


def _walk(cfg: Mapping[str, Any], dotted: str) -> tuple[Any, str]:
    """The dict holding ``dotted``'s last part (None when a parent is missing), and that part."""
    *parents, last = dotted.split(".")
    node: Any = cfg
    for part in parents:
        node = node.get(part) if isinstance(node, Mapping) else None
    return (node if isinstance(node, Mapping) else None), last


def with_later_defaults(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a stored config with every :data:`LATER_DEFAULTS` key it lacks filled in."""
    out = copy.deepcopy(dict(cfg))
    for dotted, value in LATER_DEFAULTS.items():
        node, last = _walk(out, dotted)
        if node is not None and last not in node:
            node[last] = copy.deepcopy(value)  # type: ignore[index]
    return out


def without_later_defaults(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``cfg`` without the :data:`LATER_DEFAULTS` keys that hold their default (for
    digests that must not change when the schema grows)."""
    out = copy.deepcopy(dict(cfg))
    for dotted, value in LATER_DEFAULTS.items():
        node, last = _walk(out, dotted)
        if node is not None and last in node and _plain(node[last]) == _plain(value):
            del node[last]  # type: ignore[attr-defined]
    return out


def _check_reslt(cfg: Mapping[str, Any]) -> list[str]:
    """ResLT: the loss needs the branch model; gamma is a linear head's test-time normalisation."""
    out = []
    r = cfg["model"]["reslt"]
    if cfg["loss"].get("type") == "reslt" and not r["enabled"]:
        out.append("loss.type='reslt' trains a ResLT model's branches: set model.reslt.enabled=True")
    if r["gamma"] < 0:
        out.append(f"model.reslt.gamma must be >= 0, got {r['gamma']!r}")
    if r["enabled"] and r["gamma"] > 0 and cfg["model"]["head"] != "linear":
        out.append(f"model.reslt.gamma={r['gamma']!r} divides a linear classifier's rows by ||W_c||^gamma: it "
                   f"needs model.head='linear', got {cfg['model']['head']!r}")
    if "shot_thresholds" in cfg["loss"]:
        out.append("loss.shot_thresholds: ResLT's groups use the dataset's shot thresholds (the reports' "
                   "grouping); set data.kwargs.shot_thresholds instead")
    return out


def validate_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``cfg`` against :data:`DEFAULTS` and return it with every default filled in.

    ``loss`` replaces the default loss dict whole (its keys depend on its ``type``).
    Raises :class:`ConfigError` listing every problem at once.
    """
    plain = {k: v for k, v in _plain(cfg).items() if not k.startswith("_")}
    errors: list[str] = []
    _check(plain, DEFAULTS, "", errors)
    if errors:  # wrong keys/types first: the checks below assume the types are right
        raise ConfigError(_joined(errors))
    merged = _merge(DEFAULTS, plain)
    if not _DEVICE.match(str(merged["device"])):
        errors.append(f"device={merged['device']!r} is not one of 'auto', 'cpu', 'cuda', 'cuda:<index>', 'mps'")
    for key in ("train.max_iters", "train.threads"):
        section, name = key.split(".")
        value = merged[section][name]
        if value is not None and value < 1:
            errors.append(f"{key} must be a positive integer or None, got {value!r}")
    if "type" not in merged["loss"]:
        errors.append("loss needs a 'type' (e.g. 'ce', 'iif')")
    if merged["schedule"]["epochs"] < 1:
        errors.append(f"schedule.epochs must be >= 1, got {merged['schedule']['epochs']}")
    errors += _check_warmup(merged["schedule"])
    errors += _check_values(merged)
    if merged["strategy"]["type"] in ("decoupled", "post-process") and not merged["strategy"]["load_from"]:
        errors.append(f"strategy.type={merged['strategy']['type']!r} needs strategy.load_from (a stage-1 checkpoint)")
    errors += _check_reslt(merged)
    errors += _check_optimizer(merged["optimizer"])
    from .task import check_task_config  # imports the datasets and losses: only when validating

    errors += check_task_config(merged)
    from .feature_cache import check_feature_cache_config

    errors += check_feature_cache_config(merged)
    for v in merged["evaluate"]["variants"]:
        if v not in VARIANTS:
            errors.append(f"evaluate.variants: unknown IIF variant {v!r}; expected some of {list(VARIANTS)}")
    if errors:
        raise ConfigError(_joined(errors))
    return merged


class CfgOptionsAction(DictAction):
    """MMEngine's ``--cfg-options`` parser, with one-line errors naming the bad item: an item without
    ``=`` (``expected KEY=VALUE, got 'optimizer.lr'``, not "not enough values to unpack") and
    unbalanced brackets (``[1,2``, not an AssertionError)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        options = copy.copy(getattr(namespace, self.dest, None) or {})
        for item in values or ():
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ConfigError(f"--cfg-options: expected KEY=VALUE, got {item!r}")
            try:
                options[key] = self._parse_iterable(value)
            except (AssertionError, ValueError, IndexError) as exc:  # MMEngine asserts balanced brackets
                raise ConfigError(f"--cfg-options {key}: cannot parse the value {value!r} ({exc})") from None
        setattr(namespace, self.dest, options)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _read_config_file(path: str) -> Config:
    """``Config.fromfile`` with every failure as one message naming the file (a config is user input:
    a Python file may raise anything while it runs)."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"config file {path!r} is a directory, expected a .py, .json or .yaml file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path!r} does not exist")
    if os.path.splitext(path)[1].lower() not in (".py", ".json", ".yml", ".yaml"):
        raise ConfigError(f"config file {path!r}: expected a .py, .json, .yml or .yaml file")
    try:
        return Config.fromfile(path)
    except SyntaxError as exc:
        raise ConfigError(f"config file {path!r} line {exc.lineno}: invalid Python syntax: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path!r} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                          f"{exc.start}); save it as UTF-8") from exc
    except FileNotFoundError as exc:
        if exc.filename and os.path.abspath(exc.filename) != os.path.abspath(path):
            raise FileNotFoundError(f"config file {path!r} inherits {exc.filename!r} (_base_), which does not "
                                    f"exist") from exc
        raise
    except Exception as exc:  # noqa: BLE001 - JSON / YAML errors, or whatever the Python config raised
        raise ConfigError(f"cannot read config file {path!r}: {type(exc).__name__}: {_one_line(exc)}") from exc


def load_config(path: str | os.PathLike, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Load a config file, apply ``--cfg-options``-style ``{"a.b": value}`` overrides, validate.

    ``work_dir`` defaults to ``work_dirs/<file stem>``.
    """
    path = os.fspath(path)
    cfg = _read_config_file(path)
    if options:
        try:
            cfg.merge_from_dict(dict(options))
        except (TypeError, KeyError, AttributeError) as exc:  # e.g. data=3 data.batch_size=4
            raise ConfigError(f"invalid config: cannot apply --cfg-options {dict(options)!r}: {exc}") from exc
    merged = validate_config(cfg.to_dict())
    if merged["work_dir"] is None:
        # work_dirs/<dataset folder>/<experiment>, so equal file names in two folders never collide.
        parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
        merged["work_dir"] = os.path.join("work_dirs", parent, os.path.splitext(os.path.basename(path))[0])
    merged["_config_path"] = path
    return merged

