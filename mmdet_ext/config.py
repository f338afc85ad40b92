"""Config plumbing shared by tools/train_det.py and tools/test_det.py."""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from mmengine.config import Config

from iif.safe_load import allow_mmengine_checkpoints

__all__ = ["load_det_config", "set_data_root", "prepare_runtime", "init_cpu_distributed", "trust_own_checkpoints",
           "check_checkpoint", "checkpoints_to_load", "refusal_message"]


def _datasets(cfg: Config):
    """Every dataset dict of the train/val/test dataloaders, through wrapper datasets."""
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        ds = cfg.get(key, {}).get("dataset") if cfg.get(key) else None
        while ds is not None:
            yield ds
            ds = ds.get("dataset")


def set_data_root(cfg: Config, data_root: str) -> None:
    """Point every dataset and LVIS evaluator of ``cfg`` at ``data_root`` (LVIS v1 layout:
    ``annotations/lvis_v1_{train,val}.json`` and the images ``coco_url`` names)."""
    root = os.path.join(data_root, "")
    cfg.data_root = root
    for ds in _datasets(cfg):
        if "ann_file" in ds:
            ds["data_root"] = root
    for key in ("val_evaluator", "test_evaluator"):
        ev = cfg.get(key)
        if isinstance(ev, Mapping) and ev.get("ann_file"):
            ev["ann_file"] = os.path.join(root, "annotations", os.path.basename(ev["ann_file"]))


def trust_own_checkpoints(unsafe: bool = False) -> None:
    """Let ``torch.load`` read MMEngine checkpoints (``--resume``, ``load_from``) under torch >= 2.6.

    Safe loading stays on: :func:`iif.safe_load.allow_mmengine_checkpoints` allows exactly the
    types MMEngine's checkpoints hold. ``unsafe=True`` (the tools' ``--unsafe-load``) switches
    weights-only loading off for the process, for a trusted checkpoint that holds other objects.
    """
    allow_mmengine_checkpoints()
    if unsafe:
        os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"


def check_checkpoint(path: str, unsafe: bool = False) -> None:
    """Refuse, before MMEngine's Runner is built, a checkpoint that safe loading would refuse.

    The Runner would print its whole hook table and then a long traceback; this raises one
    ``ValueError`` naming the file and the blocked globals (or the decompression bomb, or the
    TorchScript archive): :func:`iif.safe_load.check_torch_file` with MMEngine's own types allowed
    (:func:`iif.safe_load.allow_mmengine_checkpoints`). ``unsafe`` (``--unsafe-load``) skips it. A
    path that is not a local file (a URL) is left to the Runner.
    """
    from iif.safe_load import check_archive, check_torch_file, load_torch_file

    if unsafe or not path or not os.path.isfile(path):
        return
    allow_mmengine_checkpoints()
    if check_archive(path, "checkpoint"):
        check_torch_file(path, "checkpoint")
    else:  # a legacy (pre-zip) torch file: only loading it tells
        load_torch_file(path, "checkpoint", weights_only=True)


def checkpoints_to_load(cfg: Config) -> list[str]:
    """The local checkpoint files the Runner of ``cfg`` will read: ``load_from``, or with ``resume``
    and no ``load_from`` the work dir's latest (MMEngine's ``Runner.load_or_resume``)."""
    paths = []
    if cfg.get("load_from"):
        paths.append(cfg.load_from)
    elif cfg.get("resume") and cfg.get("work_dir"):
        from mmengine.runner.checkpoint import find_latest_checkpoint

        latest = find_latest_checkpoint(cfg.work_dir)
        if latest:
            paths.append(latest)
    return [p for p in paths if isinstance(p, str) and os.path.isfile(p)]


def refusal_message(exc: BaseException, cfg: Config) -> str:
    """One line for a checkpoint the weights-only unpickler refused inside the Runner (a path that
    :func:`check_checkpoint` did not see, e.g. a backbone's ``init_cfg``)."""
    text = str(exc).strip()
    blocked = text.split("GLOBAL ", 1)[1].split()[0] if "GLOBAL " in text else None
    files = checkpoints_to_load(cfg)
    where = f" {files[0]!r}" if files else ""
    what = f" (blocked global {blocked})" if blocked else f" ({text.splitlines()[-1][:200]})" if text else ""
    return (f"checkpoint{where} holds Python objects that safe loading (torch.load weights_only=True) refuses{what}: "
            f"unpickling them could run code. If you trust the file, pass --unsafe-load")


def init_cpu_distributed(launcher: str, backend: str = "gloo") -> bool:
    """Join the torchrun process group on a machine without CUDA; returns whether it did.

    MMEngine 0.10's ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` unconditionally,
    so on CPU it fails before training; MMEngine skips its own initialisation when a group
    exists, so the tools create it first (gloo; RANK / WORLD_SIZE / MASTER_* from torchrun).
    """
    import torch
    import torch.distributed as dist

    if launcher != "pytorch" or torch.cuda.is_available() or dist.is_initialized():
        return False
    dist.init_process_group(backend=backend)
    return True


def _cpu_distributed_defaults(cfg: Config) -> None:
    """Without CUDA, a distributed run (torchrun on CPU: testing, or CPU clusters) needs the gloo
    backend (not nccl), and DDP must get ``device_ids=None``: MMEngine's default wrapper passes
    the local rank as a CUDA device id, which DDP rejects for a CPU module. A user's own settings
    are kept."""
    import torch

    if torch.cuda.is_available():
        return
    dist_cfg = cfg.setdefault("env_cfg", {}).setdefault("dist_cfg", {})
    if dist_cfg.get("backend", "nccl") == "nccl":  # nccl needs GPUs; keep gloo / mpi if chosen
        dist_cfg["backend"] = "gloo"
    if cfg.get("model_wrapper_cfg") is None:
        # device_ids=None explicitly: the Runner's default (the local rank) would win otherwise
        cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", device_ids=None, broadcast_buffers=False,
                                     find_unused_parameters=cfg.get("find_unused_parameters", False))


def prepare_runtime(cfg: Config, unsafe_load: bool = False) -> None:
    """What ``tools/train_det.py`` and ``tools/test_det.py`` do before building the Runner:
    checkpoints that load safely under torch >= 2.6, and the CPU process group under torchrun."""
    trust_own_checkpoints(unsafe_load)
    init_cpu_distributed(cfg.get("launcher", "none"), cfg.get("env_cfg", {}).get("dist_cfg", {}).get("backend", "gloo"))


def load_det_config(config: str, options: Optional[Mapping[str, Any]] = None, data_root: Optional[str] = None,
                    work_dir: Optional[str] = None, launcher: str = "none") -> Config:
    """Read an mmdet config (``mmdet::`` bases, ``custom_imports``), apply ``--cfg-options``,
    the data root and the work dir (default ``work_dirs/<config name>``)."""
    if not os.path.isfile(config):
        raise FileNotFoundError(f"config file {config!r} does not exist")
    cfg = Config.fromfile(config)
    if options:
        cfg.merge_from_dict(dict(options))
    if data_root:
        set_data_root(cfg, data_root)
    cfg.launcher = launcher
    if launcher != "none":
        _cpu_distributed_defaults(cfg)
    cfg.work_dir = work_dir or cfg.get("work_dir") or os.path.join("work_dirs", os.path.splitext(os.path.basename(config))[0])
    return cfg
