"""Progress of one forward pass, step by step: patch-embedding blocks, aggregator blocks, heads.

A VGGT-1B pass over a few dozen frames takes minutes on a CPU; :func:`forward_progress` reports each
step as it finishes, through forward hooks on the model's blocks and heads (removed on exit, so the
model is left as it was and the outputs are unchanged)::

    with forward_progress(model, lambda done, total, label: print(f"{done}/{total} {label}")):
        rec = reconstruct(photos, model)

Steps, in order: the patch embedding (one per DINOv2 block, or one for a convolutional embedding), each
frame-attention and global-attention block the heads need (VGGT-1B: 24 + 24), then the camera, depth
and point heads and, when query points are tracked, the track head. Every forward pass (one per window
of a windowed reconstruction) counts from 0 again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from torch import nn

from vggt_py.model import VGGT

__all__ = ["ProgressCallback", "forward_progress", "forward_steps"]

ProgressCallback = Callable[[int, int, str], None]  # (steps done, steps in the pass, what just finished)


def forward_steps(model: VGGT, tracking: bool = False) -> list[tuple[nn.Module, str]]:
    """The modules whose completion :func:`forward_progress` reports, in the order a forward pass runs them.

    ``tracking``: the pass is given query points (the track head runs, if the model has one).
    """
    steps: list[tuple[nn.Module, str]] = []
    embed = model.aggregator.patch_embed
    blocks = getattr(embed, "blocks", None)
    if isinstance(blocks, nn.ModuleList) and len(blocks) > 0:
        steps += [(block, f"patch embedding {i + 1}/{len(blocks)}") for i, block in enumerate(blocks)]
    else:
        steps.append((embed, "patch embedding"))
    agg = model.config.aggregator
    needed = model.config.layers_needed()
    # the aggregator runs whole groups of aa_block_size frame blocks then global blocks, up to the last layer read
    runs = (max(needed) // agg.aa_block_size + 1) * agg.aa_block_size if needed else 0
    frame_blocks, global_blocks = model.aggregator.frame_blocks, model.aggregator.global_blocks
    for group in range(0, runs, agg.aa_block_size):
        for i in range(group, group + agg.aa_block_size):
            steps.append((frame_blocks[i], f"frame attention {i + 1}/{agg.depth}"))
        for i in range(group, group + agg.aa_block_size):
            steps.append((global_blocks[i], f"global attention {i + 1}/{agg.depth}"))
    for head, label in ((model.camera_head, "camera head"), (model.depth_head, "depth head"), (model.point_head, "point head")):
        if head is not None:
            steps.append((head, label))
    if tracking and model.track_head is not None:
        steps.append((model.track_head, "track head"))
    return steps


@contextlib.contextmanager
def forward_progress(model: VGGT, callback: ProgressCallback, tracking: bool = False) -> Iterator[int]:
    """Call ``callback(done, total, label)`` as each step of ``model``'s forward passes finishes; yields ``total``.

    ``callback(0, total, "starting")`` comes when a pass starts. ``tracking``: passes are given query
    points (counts the track head). A step that runs more than once in a pass (e.g. a head called
    again) is counted once.
    """
    if not isinstance(model, VGGT):
        raise TypeError(f"forward_progress needs a VGGT model, got {type(model).__name__}")
    steps = forward_steps(model, tracking)
    total = len(steps)
    seen: set[int] = set()
    handles = []

    def start(_module: nn.Module, _args: Any) -> None:
        seen.clear()
        callback(0, total, "starting")

    def finished(index: int, label: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _args: Any, _output: Any) -> None:
            if index not in seen:
                seen.add(index)
                callback(len(seen), total, label)

        return hook

    try:
        handles.append(model.register_forward_pre_hook(start))
        for index, (module, label) in enumerate(steps):
            handles.append(module.register_forward_hook(finished(index, label)))
        yield total
    finally:
        for handle in handles:
            handle.remove()
