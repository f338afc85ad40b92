"""The classification trainer (adds torchvision, timm and MMEngine's Config to the core)."""
from .config import DEFAULTS, STRATEGIES, ConfigError, load_config, validate_config
from .evaluate import collect_logits, format_table, posthoc_rows, score
from .task import TASKS, MultiLabelTask, SingleLabelTask, build_task, resolve_task
from .trainer import Trainer, resolve_device, seed_everything

__all__ = ["DEFAULTS", "STRATEGIES", "ConfigError", "load_config", "validate_config", "Trainer", "collect_logits",
           "format_table", "posthoc_rows", "score", "resolve_device", "seed_everything", "TASKS", "SingleLabelTask",
           "MultiLabelTask", "build_task", "resolve_task"]
