"""Training and fine-tuning of VGGT: losses, configuration, the trainer and its command line.

``Trainer(TrainConfig.from_yaml("recipe:tiny_synthetic")).fit()`` runs a whole training; see
:mod:`vggt_py.training.trainer`. ``vggt-py train`` and ``vggt-py finetune`` do the same from the shell.

Names are imported on first use, so the command line does not pay for the trainer's imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vggt_py.training.config import (
        DataConfig,
        LoRAConfig,
        ModelConfig,
        OptimConfig,
        RunConfig,
        SyntheticDataConfig,
        TrainConfig,
    )
    from vggt_py.training.losses import (
        LossConfig,
        VGGTLoss,
        camera_loss,
        confidence_regression_loss,
        track_loss,
    )
    from vggt_py.training.module import TrainingModule
    from vggt_py.training.trainer import Trainer, build_model, build_scenes

_EXPORTS = {
    "DataConfig": "config",
    "LoRAConfig": "config",
    "ModelConfig": "config",
    "OptimConfig": "config",
    "RunConfig": "config",
    "SyntheticDataConfig": "config",
    "TrainConfig": "config",
    "LossConfig": "losses",
    "VGGTLoss": "losses",
    "camera_loss": "losses",
    "confidence_regression_loss": "losses",
    "track_loss": "losses",
    "TrainingModule": "module",
    "Trainer": "trainer",
    "build_model": "trainer",
    "build_scenes": "trainer",
}

__all__ = [
    "DataConfig",
    "LoRAConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "SyntheticDataConfig",
    "TrainConfig",
    "Trainer",
    "TrainingModule",
    "VGGTLoss",
    "build_model",
    "build_scenes",
    "camera_loss",
    "confidence_regression_loss",
    "track_loss",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vggt_py.training' has no attribute {name!r}")
    return getattr(importlib.import_module(f"vggt_py.training.{_EXPORTS[name]}"), name)
