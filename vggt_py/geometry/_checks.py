"""Input checks shared by the public geometry functions (internal)."""

from __future__ import annotations

import operator

import torch

__all__ = ["check_image_hw", "check_tensor", "shape_str"]


def shape_str(shape: tuple[int, ...] | torch.Size) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def check_tensor(x: object, name: str, trailing: tuple[int, ...], min_ndim: int | None = None) -> torch.Tensor:
    """Check that ``x`` is a floating-point tensor whose last dims equal ``trailing``.

    A ``-1`` in ``trailing`` accepts any size there. Returns ``x`` unchanged.
    """
    expected = "[..., " + ", ".join("*" if d == -1 else str(d) for d in trailing) + "]"
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of shape {expected}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    need = len(trailing) if min_ndim is None else max(min_ndim, len(trailing))
    tail = tuple(x.shape[x.ndim - len(trailing) :]) if x.ndim >= len(trailing) else ()
    ok = x.ndim >= need and all(want in (-1, got) for want, got in zip(trailing, tail, strict=True))
    if not ok:
        raise ValueError(f"{name}: expected shape {expected}, got {shape_str(x.shape)}")
    return x


def check_image_hw(image_hw: object) -> tuple[int, int]:
    """Check an ``(H, W)`` image size in pixels: two positive integers."""
    error = ValueError(f"image_hw: expected (H, W) as two positive ints, got {image_hw!r}")
    if not isinstance(image_hw, (tuple, list, torch.Size)) or len(image_hw) != 2:
        raise error
    try:
        height, width = (operator.index(v) for v in image_hw)
    except TypeError:
        raise error from None
    if isinstance(image_hw[0], bool) or isinstance(image_hw[1], bool) or height <= 0 or width <= 0:
        raise error
    return height, width


def check_rigid(x: object, name: str, stacked: bool = False) -> torch.Tensor:
    """Check ``[..., 3, 4]`` or ``[..., 4, 4]`` transforms (``[..., S, 3|4, 4]`` when ``stacked``)."""
    expected = "[..., S, 3, 4] or [..., S, 4, 4]" if stacked else "[..., 3, 4] or [..., 4, 4]"
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of shape {expected}, got {type(x).__name__}")
    if x.ndim < (3 if stacked else 2) or x.shape[-1] != 4 or x.shape[-2] not in (3, 4):
        raise ValueError(f"{name}: expected shape {expected}, got {shape_str(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    return x
