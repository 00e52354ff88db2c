"""The VGGT forward pass used for training.

:class:`TrainingModule` runs the aggregator and the heads that are being trained, like
:meth:`vggt_py.VGGT.forward` (camera, depth and point heads in float32 also under autocast, the track
head following the caller's autocast), but returns what the losses need: every tracker iteration and
the raw visibility / confidence logits. Being an ``nn.Module`` whose ``forward`` does all the work,
it can be wrapped by DDP or FSDP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from typing import Any

import torch
from torch import nn

from vggt_py.model import VGGT

__all__ = ["HEADS", "TrainingModule", "prime_camera_head", "prime_camera_head_at"]

HEADS: tuple[str, ...] = ("camera", "depth", "point", "track")


def prime_camera_head(model: VGGT, fov: float = 1.0) -> None:
    """Start a camera head trained from scratch at plausible cameras: identity rotation, ``fov`` radians.

    The head's output adds one update per iteration and passes the fields of view through a ReLU; with
    the default initialisation a field of view whose first estimate is negative for every input gets
    no gradient at all and stays 0 for good (seen on small models). Biasing the last layer by
    ``1 / iters`` of ``[q_w = 1, fov_h = fov_w = fov]`` keeps every estimate positive from the first
    iteration and ends the iterations at the identity rotation and ``fov``. Pretrained heads are
    left alone by the trainer (it only primes models it initialises itself).
    """
    head = model.camera_head
    if head is None:
        raise ValueError("prime_camera_head: the model has no camera head")
    if not fov > 0:
        raise ValueError(f"prime_camera_head: fov must be > 0 radians, got {fov}")
    with torch.no_grad():
        bias = head.pose_branch.fc2.bias
        bias[6] += 1.0 / head.iters
        bias[7:9] += fov / head.iters


def prime_camera_head_at(model: VGGT, pose_encoding: torch.Tensor) -> None:
    """Start a camera head trained from scratch at one pose for every frame, with no dependence on the input.

    The last layer's weights are zeroed and its bias set to ``pose_encoding / iters`` [9], so that every
    iteration adds the same update and the last one ends exactly at ``pose_encoding`` (activated: its
    fields of view must be > 0). With the training data's median encoding of frames > 0, the first
    steps have no mean pose left to fit: fitted through the trunk instead, it makes the camera tokens of
    all frames alike within ~50 steps, and the head then sits at the mean pose for hundreds of steps
    (the model card's training log). The first step's gradient reaches only this layer (its input
    is the trunk's output); the trunk gets gradients from the second step on.
    """
    head = model.camera_head
    if head is None:
        raise ValueError("prime_camera_head_at: the model has no camera head")
    pose_encoding = torch.as_tensor(pose_encoding, dtype=torch.float32).flatten()
    fc2 = head.pose_branch.fc2
    if pose_encoding.numel() != fc2.out_features:
        raise ValueError(
            f"prime_camera_head_at: pose_encoding must have {fc2.out_features} values, got {tuple(pose_encoding.shape)}"
        )
    if not torch.isfinite(pose_encoding).all() or not (pose_encoding[7:] > 0).all():
        raise ValueError(
            f"prime_camera_head_at: pose_encoding must be finite with fields of view > 0, got {pose_encoding.tolist()}"
        )
    with torch.no_grad():
        fc2.weight.zero_()
        fc2.bias.copy_(pose_encoding.to(fc2.bias) / head.iters)


class TrainingModule(nn.Module):
    """Wraps a :class:`~vggt_py.VGGT` for training.

    ``forward(images [B,S,3,H,W], query_points [B,N,2] | None)`` returns ``pose_enc_list`` (camera),
    ``depth``/``depth_conf`` (depth), ``world_points``/``world_points_conf`` (point) and, with query
    points, ``track_list`` (per-iteration [B,S,N,2]), ``vis_logits`` and ``conf_logits`` [B,S,N] (track),
    for the heads listed in ``heads`` that the model has.

    When no aggregator parameter requires a gradient (e.g. ``freeze: [aggregator*]``), the aggregator
    runs under ``torch.no_grad`` and in eval mode: no activations are stored for it.
    """

    def __init__(self, model: VGGT, heads: Collection[str] = HEADS):
        super().__init__()
        unknown = set(heads) - set(HEADS)
        if unknown:
            raise ValueError(f"unknown heads {sorted(unknown)}; expected a subset of {HEADS}")
        present = {name for name in HEADS if getattr(model, f"{name}_head") is not None}
        self.model = model
        self.heads = tuple(name for name in HEADS if name in heads and name in present)
        if not self.heads:
            raise ValueError(f"none of the heads {sorted(heads)} is enabled in the model (it has {sorted(present)})")
        config = model.config
        depth = config.aggregator.depth
        layers: set[int] = set()
        if "camera" in self.heads:
            layers.add(depth - 1)
        for name in ("depth", "point", "track"):
            if name in self.heads:
                layers.update(i % depth for i in getattr(config, f"{name}_head").intermediate_layer_idx)
        self._layers = tuple(sorted(layers))

    @property
    def aggregator_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.model.aggregator.parameters())

    def train(self, mode: bool = True) -> TrainingModule:
        super().train(mode)
        if mode and self.aggregator_frozen:
            self.model.aggregator.eval()
        return self

    def forward(self, images: torch.Tensor, query_points: torch.Tensor | None = None) -> dict[str, Any]:
        if images.dim() != 5 or images.shape[2] != 3:
            raise ValueError(f"images must be [B,S,3,H,W], got {tuple(images.shape)}")
        image_hw = (images.shape[-2], images.shape[-1])
        model = self.model
        frozen = contextlib.nullcontext() if not self.aggregator_frozen else torch.no_grad()
        with frozen:
            layers, patch_start_idx = model.aggregator(images, keep_layers=self._layers)
        out: dict[str, Any] = {}
        with torch.autocast(device_type=images.device.type, enabled=False):
            fp32 = {i: t.float() for i, t in layers.items()}
            if "camera" in self.heads:
                out["pose_enc_list"] = model.camera_head(fp32)
            if "depth" in self.heads:
                out["depth"], out["depth_conf"] = model.depth_head(fp32, image_hw, patch_start_idx)
            if "point" in self.heads:
                out["world_points"], out["world_points_conf"] = model.point_head(fp32, image_hw, patch_start_idx)
        if "track" in self.heads and query_points is not None:
            head = model.track_head
            fmaps = head.feature_extractor(layers, image_hw, patch_start_idx)
            tracks, vis, conf = head.tracker(query_points, fmaps, head.iters, apply_sigmoid=False)
            out["track_list"], out["vis_logits"], out["conf_logits"] = tracks, vis, conf
        return out
