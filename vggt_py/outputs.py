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


class VGGTOutput(dict[str, Any]):
    """Predictions of one forward pass, keyed as in the table of :class:`~vggt_py.model.VGGT`.

    Each key has a read-only typed attribute of the same name (``None`` when the key is absent).
    """

    @property
    def pose_enc(self) -> torch.Tensor | None:
        """[B, S, 9] the last camera-head iteration."""
        return self.get("pose_enc")

    @property
    def pose_enc_list(self) -> list[torch.Tensor] | None:
        """list of [B, S, 9], every camera-head iteration."""
        return self.get("pose_enc_list")

    @property
    def depth(self) -> torch.Tensor | None:
        """[B, S, H, W, 1] camera-frame z (frame 0 is the world)."""
        return self.get("depth")

    @property
    def depth_conf(self) -> torch.Tensor | None:
        """[B, S, H, W] depth confidence, >= 1."""
        return self.get("depth_conf")

    @property
    def world_points(self) -> torch.Tensor | None:
        """[B, S, H, W, 3] point map in frame 0's camera frame."""
        return self.get("world_points")

    @property
    def world_points_conf(self) -> torch.Tensor | None:
        """[B, S, H, W] point confidence, >= 1."""
        return self.get("world_points_conf")

    @property
    def track(self) -> torch.Tensor | None:
        """[B, S, N, 2] pixel tracks (with query_points)."""
        return self.get("track")

    @property
    def vis(self) -> torch.Tensor | None:
        """[B, S, N] track visibility (with query_points)."""
        return self.get("vis")

    @property
    def conf(self) -> torch.Tensor | None:
        """[B, S, N] track confidence (with query_points)."""
        return self.get("conf")

    @property
    def images(self) -> torch.Tensor | None:
        """[B, S, 3, H, W] the (batched) input."""
        return self.get("images")

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={_describe(v)}" for k, v in self.items())
        return f"VGGTOutput({parts})"


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"Tensor{list(value.shape)}"
    if isinstance(value, list):
        return f"list[{len(value)}]"
    return repr(value)
