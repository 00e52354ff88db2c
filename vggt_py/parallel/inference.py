"""Exact context-parallel inference: one scene's frames split across a ``torch.distributed`` group.

Axis letters: ``B`` scenes, ``S`` frames, ``N`` query points, ``H x W`` image size.

Every rank runs the patch embedding, the frame blocks and the dense heads on its own contiguous run
of frames; global attention gathers every rank's keys and values (after the per-token q/k norm and
RoPE, so it is the same attention as on one device); the camera head's trunk and the tracker's
update transformer, which attend across frames, run on gathered tokens (small); frame 0's learned
tokens and the track queries' features go to the rank that holds frame 0 and from it. Works with
gloo (CPU) and NCCL (one GPU per rank: call ``torch.cuda.set_device(local_rank)`` first).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.distributed as dist

from vggt_py.outputs import VGGTOutput
from vggt_py.parallel.shard import FrameShard, split_frames

__all__ = ["check_setup", "forward_distributed", "gather_outputs", "make_shard"]

# Outputs with a frame axis (dim 1, after the batch axis); ``pose_enc_list`` is a list of them.
PER_FRAME_KEYS = ("pose_enc", "depth", "depth_conf", "world_points", "world_points_conf", "track", "vis", "conf")

Gather = Literal["all", "first", "none"]


def _require_group(group: Any) -> tuple[int, int]:
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "distributed inference needs an initialised process group: start with "
            "`torchrun --nproc-per-node=N ...` and call torch.distributed.init_process_group(), "
            "or use the single-process model call"
        )
    return dist.get_rank(group), dist.get_world_size(group)


def _fingerprint(model: torch.nn.Module, facts: dict[str, Any]) -> dict[str, str]:
    """Short digests of the config, the weights and the call's facts, to compare across ranks."""
    config = json.dumps(model.config.to_dict(), sort_keys=True)
    weights = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            weights.update(name.encode())
            weights.update(repr((tuple(tensor.shape), str(tensor.dtype))).encode())
            if tensor.is_floating_point() and tensor.numel():
                weights.update(repr(float(tensor.sum(dtype=torch.float64))).encode())
    return {
        "config": hashlib.sha256(config.encode()).hexdigest()[:16],
        "weights": weights.hexdigest()[:16],
        **{k: json.dumps(v) for k, v in facts.items()},
    }


def check_setup(model: torch.nn.Module, facts: dict[str, Any], group: Any = None) -> None:
    """Raise the same ``ValueError`` on every rank if the model or ``facts`` differ between ranks."""
    rank, world = _require_group(group)
    mine = _fingerprint(model, facts)
    everyone: list[dict[str, str] | None] = [None] * world
    dist.all_gather_object(everyone, mine, group=group)
    reference = everyone[0]
    problems = []
    for other_rank, theirs in enumerate(everyone[1:], start=1):
        for key, value in reference.items():
            if theirs.get(key) != value:
                problems.append(f"rank {other_rank} has {key} {theirs.get(key)} but rank 0 has {value}")
    if problems:
        raise ValueError(
            "the processes of the group disagree (every rank must load the same model and pass the same "
            "scene): " + "; ".join(problems)
        )


def make_shard(
    total_frames: int, *, group: Any = None, counts: Sequence[int] | None = None
) -> FrameShard:
    """This rank's :class:`FrameShard` of a ``total_frames`` scene (an even split unless ``counts``)."""
    rank, world = _require_group(group)
    if counts is None:
        counts = split_frames(total_frames, world)
    counts = tuple(int(c) for c in counts)
    if len(counts) != world:
        raise ValueError(f"counts must list one frame count per rank ({world}), got {list(counts)}")
    if sum(counts) != total_frames:
        raise ValueError(f"counts {list(counts)} add up to {sum(counts)}, not the scene's {total_frames} frames")
    if any(c < 1 for c in counts):
        raise ValueError(f"every rank needs at least one frame, got counts {list(counts)}")
    return FrameShard(counts=counts, rank=rank, group=group)


def gather_outputs(
    outputs: dict[str, Any], shard: FrameShard, *, images: torch.Tensor | None = None, to: Gather = "all"
) -> VGGTOutput:
    """Concatenate every rank's per-frame outputs in frame order.

    ``to="all"``: on every rank; ``"first"``: on rank 0 (the others keep their own frames);
    ``"none"``: unchanged. ``images`` (the whole batched scene), if given, replaces ``images``.
    """
    if to not in ("all", "first", "none"):
        raise ValueError(f"to must be 'all', 'first' or 'none', got {to!r}")
    if to == "none":
        return VGGTOutput(outputs)
    keep = to == "all" or shard.holds_first_frame

    def gather(t: torch.Tensor) -> torch.Tensor:
        full = shard.gather(t, dim=1)
        return full if keep else t

    result = VGGTOutput(outputs)
    for key in PER_FRAME_KEYS:
        if key in outputs:
            result[key] = gather(outputs[key])
    if "pose_enc_list" in outputs:
        result["pose_enc_list"] = [gather(t) for t in outputs["pose_enc_list"]]
    if "images" in outputs:  # the same decision on every rank: gather only if no rank has the whole scene
        if images is None:
            result["images"] = gather(outputs["images"])
        elif keep:
            result["images"] = images
    return result


def forward_distributed(
    model: torch.nn.Module,
    images: torch.Tensor,
    query_points: torch.Tensor | None = None,
    *,
    group: Any = None,
    counts: Sequence[int] | None = None,
    gather: Gather = "all",
    check: bool = True,
) -> VGGTOutput:
    """Run ``model`` on one scene with its frames split across the ranks of ``group``.

    Every rank passes the whole scene (``images`` [S, 3, H, W] or [B, S, 3, H, W] and the same
    ``query_points``) and the same model; each computes its own contiguous run of frames (an even
    split, or ``counts`` frames per rank). The result equals the single-process ``model(images,
    query_points)`` up to float rounding of the different matrix shapes (within 1e-5 in the
    tests' fp32 runs). ``gather`` says where the whole result is assembled: ``"all"`` ranks,
    ``"first"`` (rank 0; the others get their own frames) or ``"none"`` (every rank its own).
    With ``check`` (default) every rank first verifies that all ranks hold the same config, weights
    and inputs, and raises the same ``ValueError`` otherwise.
    """
    if not isinstance(images, torch.Tensor) or images.dim() not in (4, 5):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor [S, 3, H, W] or [B, S, 3, H, W], got {shape}")
    batched = images if images.dim() == 5 else images[None]
    rank, world = _require_group(group)
    total = batched.shape[1]
    if counts is None and total < world:
        raise ValueError(
            f"cannot split {total} frame(s) across {world} processes: every process needs at least one frame "
            f"(use at most {total} processes)"
        )
    if check:
        facts: dict[str, Any] = {
            "image shape": list(batched.shape),
            "image dtype": str(batched.dtype),
            "image checksum": float(batched.sum(dtype=torch.float64)),
            "counts": list(counts) if counts is not None else None,
        }
        if query_points is not None:
            facts["query points"] = [list(query_points.shape), float(query_points.sum(dtype=torch.float64))]
        check_setup(model, facts, group=group)
    shard = make_shard(total, group=group, counts=counts)
    local = batched[:, shard.frames]
    outputs = model(local, query_points, shard=shard)
    return gather_outputs(outputs, shard, images=batched, to=gather)
