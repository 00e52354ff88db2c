"""Conversion of numpy / torch inputs for the metrics (internal)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["as_float64", "as_mask"]


def _as_tensor(value: object, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise ValueError(f"{name}: expected a numeric or bool array, got dtype {value.dtype}")
        return torch.from_numpy(np.array(value))  # a writable copy
    raise TypeError(f"{name}: expected a numpy array or torch.Tensor, got {type(value).__name__}")


def as_float64(value: object, name: str) -> torch.Tensor:
    """A float64 tensor from a numpy array or tensor (tensors keep their device)."""
    tensor = _as_tensor(value, name)
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise ValueError(f"{name}: expected real numbers, got dtype {tensor.dtype}")
    return tensor.to(torch.float64)


def as_mask(value: object, name: str) -> torch.Tensor:
    """A bool tensor from a numpy array or tensor; other dtypes count as True where non-zero."""
    tensor = _as_tensor(value, name)
    return tensor if tensor.dtype == torch.bool else tensor != 0
