"""Training: in-memory data, one loop for every method, the FGI teacher and distillation, baselines.

    data = load_training_data(ds, run_dir, ds.split("train"), size=128)
    method = teacher_method(build_teacher(profile, 3, data.text_dim), fgi_options(profile))  # fgi_core.config
    fit(method, data, val_data, run_dir / "teacher", train_config(profile, "teacher"))
"""
from .data import BatchSampler, TrainingData, flip_batch, load_training_data
from .engine import Method, TrainConfig, fit, load_networks, validation_dice
from .methods import (
    BASELINE_KEYS,
    BASELINES,
    baseline_method,
    build_student,
    build_teacher,
    distillation_method,
    teacher_method,
    train_baseline,
    train_baselines,
    train_config,
)

__all__ = [
    "BASELINE_KEYS",
    "train_baseline",
    "train_baselines",
    "BatchSampler",
    "TrainingData",
    "flip_batch",
    "load_training_data",
    "Method",
    "TrainConfig",
    "fit",
    "load_networks",
    "validation_dice",
    "BASELINES",
    "baseline_method",
    "build_student",
    "build_teacher",
    "distillation_method",
    "teacher_method",
    "train_config",
]
