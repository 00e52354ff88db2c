"""The typed, dict-compatible output of :meth:`vggt_py.model.VGGT.forward`.

:class:`VGGTOutput` *is* a ``dict`` (``out["depth"]``, ``"track" in out``, ``out.keys()``, ``dict(out)`` and
iteration work as before), with one documented, typed attribute per key; an attribute of a key that is
absent (a disabled head, or no ``query_points``) is ``None``. See docs/architecture.md, Model outputs.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["OUTPUT_KEYS", "VGGTOutput"]

OUTPUT_KEYS: tuple[str, ...] = (
    "pose_enc",
    "pose_enc_list",
    "depth",
    "depth_conf",
    "world_points",
    "world_points_conf",
    "track",
    "vis",
    "conf",
    "images",
)


def _field(key: str, doc: str) -> property:
    def get(self: VGGTOutput) -> Any:
        return self.get(key)

    return property(get, doc=doc)


class VGGTOutput(dict[str, Any]):
    """Predictions of one forward pass, keyed as in the table of :class:`~vggt_py.model.VGGT`."""

    pose_enc: torch.Tensor | None = _field("pose_enc", "[B, S, 9] last camera-head iteration")  # type: ignore[assignment]
    pose_enc_list: list[torch.Tensor] | None = _field("pose_enc_list", "list of [B, S, 9], every iteration")  # type: ignore[assignment]
    depth: torch.Tensor | None = _field("depth", "[B, S, H, W, 1] camera-frame z")  # type: ignore[assignment]
    depth_conf: torch.Tensor | None = _field("depth_conf", "[B, S, H, W] depth confidence, >= 1")  # type: ignore[assignment]
    world_points: torch.Tensor | None = _field("world_points", "[B, S, H, W, 3] point map, frame 0's camera frame")  # type: ignore[assignment]
    world_points_conf: torch.Tensor | None = _field("world_points_conf", "[B, S, H, W] point confidence, >= 1")  # type: ignore[assignment]
    track: torch.Tensor | None = _field("track", "[B, S, N, 2] pixel tracks (with query_points)")  # type: ignore[assignment]
    vis: torch.Tensor | None = _field("vis", "[B, S, N] track visibility (with query_points)")  # type: ignore[assignment]
    conf: torch.Tensor | None = _field("conf", "[B, S, N] track confidence (with query_points)")  # type: ignore[assignment]
    images: torch.Tensor | None = _field("images", "[B, S, 3, H, W] the (batched) input")  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={_describe(v)}" for k, v in self.items())
        return f"VGGTOutput({parts})"


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"Tensor{list(value.shape)}"
    if isinstance(value, list):
        return f"list[{len(value)}]"
    return repr(value)
