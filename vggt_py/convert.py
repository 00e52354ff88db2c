"""State-dict conversion into the checkpoint layout of ``facebook/VGGT-1B``.

The model's own parameter names are the checkpoint's, so the official weights load unchanged.
:func:`convert_state_dict` is a pure ``state_dict -> state_dict`` function that accepts the other
forms a VGGT checkpoint is found in: a training checkpoint (``{"model": ...}``), keys prefixed by
wrappers (DDP's ``module.``, ``torch.compile``'s ``_orig_mod.``), the corrected spelling of the
tracker's virtual-track key, and weights of heads that a config disables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from vggt_py.config import VGGTConfig

__all__ = ["RENAMES", "WRAPPER_PREFIXES", "convert_state_dict", "unwrap_checkpoint"]

# Wrapper prefixes, removed when every key carries them.
WRAPPER_PREFIXES: tuple[str, ...] = ("module.", "_orig_mod.", "model.")

# (pattern, replacement) applied in order to every key.
RENAMES: tuple[tuple[str, str], ...] = (
    # The checkpoint misspells "virtual"; accept the corrected spelling too.
    (r"^track_head\.tracker\.updateformer\.virtual_tracks$", "track_head.tracker.updateformer.virual_tracks"),
)

# Keys some exports persist although they are recomputed constants.
DROPPED: tuple[str, ...] = (r"^aggregator\._resnet_(mean|std)$",)

_HEAD_PREFIX = {
    "camera_head": "camera_head.",
    "depth_head": "depth_head.",
    "point_head": "point_head.",
    "track_head": "track_head.",
}


def unwrap_checkpoint(obj: object) -> dict[str, torch.Tensor]:
    """The tensor dict inside a loaded checkpoint (plain, ``{"model": ...}`` or ``{"state_dict": ...}``)."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict", "model_state_dict"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return dict(inner)
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)  # type: ignore[arg-type]
    raise ValueError(
        "not a VGGT checkpoint: expected a dict of tensors, or a training checkpoint with a 'model' entry"
    )


def convert_state_dict(state_dict: Mapping[str, torch.Tensor], config: VGGTConfig | None = None) -> dict[str, torch.Tensor]:
    """Map ``state_dict`` onto the checkpoint layout; with ``config``, drop disabled heads' keys."""
    out = dict(state_dict)
    for prefix in WRAPPER_PREFIXES:
        while out and all(k.startswith(prefix) for k in out):
            out = {k[len(prefix) :]: v for k, v in out.items()}
    renamed: dict[str, torch.Tensor] = {}
    for key, value in out.items():
        if any(re.match(pattern, key) for pattern in DROPPED):
            continue
        for pattern, replacement in RENAMES:
            key = re.sub(pattern, replacement, key)
        renamed[key] = value
    if config is not None:
        disabled = [prefix for name, prefix in _HEAD_PREFIX.items() if not getattr(config, name).enabled]
        renamed = {k: v for k, v in renamed.items() if not k.startswith(tuple(disabled))} if disabled else renamed
    return renamed
