"""The inference memory model: how many bytes a reconstruction needs, and how many frames fit.

:func:`estimate_memory`, for ``S`` frames of ``H x W`` pixels, patch size ``p``,
``P = 1 + registers + (H/p)(W/p)`` tokens per frame of width ``C``, ``L`` aggregator layers kept for
the heads, ``c`` bytes per value of the compute dtype (4 fp32, 2 bf16/fp16) and ``f = 4`` (fp32)::

    weights     = params * (4 + c if c < 4 else 4)            # fp32 weights + autocast copies
    agg/frame   = images 24HW + kept L*P*2C*f + stream P*C*f + block work P*C*w
    head/frame  = images 24HW + kept L*P*2C*f + outputs 36HW   # depth, points, confidences, unprojection
    dense/frame = f*HW*(F/2 + 64 + out) + f*(8/p)^2*HW*F       # one DPT head pass at feature width F
    total(S)    = weights + runtime + max(S*agg, S*head + min(S, chunk)*dense)

with ``w = max(attention 24 + 5c, MLP 8 + (2*mlp_ratio + 1)*c)`` bytes per token channel for the live
tensors of one transformer block, ``chunk`` the dense heads' ``frames_chunk_size`` and ``runtime`` a
fixed 256 MiB of allocator caches and kernel workspaces. Attention kernels are assumed
memory-efficient (no S*P x S*P matrix), as PyTorch's fused SDPA is on CUDA and CPU.
:func:`frames_that_fit` keeps a further 10 % margin.

Check on CPU (VGGT-1B architecture, fp32, 518x392, peak RSS above the loaded weights): 1 frame
0.44 GiB measured vs 0.50 GiB estimated, 3 frames 0.87 GiB vs 1.01 GiB. Not yet checked on a GPU.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch

from vggt_py.config import VGGTConfig

__all__ = [
    "INFO_HEIGHT",
    "INFO_WIDTH",
    "MemoryEstimate",
    "available_memory",
    "estimate_memory",
    "frames_that_fit",
    "is_out_of_memory",
]

# The reference resolution of the estimates (and of `vggt-py info`): a 4:3 landscape photo in crop mode.
INFO_HEIGHT, INFO_WIDTH = 392, 518
_MEMORY_MARGIN = 0.9
_DPT_HIDDEN = 32  # channels of the DPT output convolution
_RUNTIME_OVERHEAD = 256 * 2**20  # allocator caches, kernel workspaces


class MemoryEstimate(NamedTuple):
    """Bytes of one inference pass (see the module docstring for the formulas)."""

    weights: int  # parameters, plus their low-precision autocast copies
    aggregator_per_frame: int  # live per frame while the trunk runs
    heads_per_frame: int  # live per frame while the dense heads run (besides the chunk)
    dense_per_frame: int  # one dense-head pass, per frame of the chunk
    chunk_frames: int  # frames per dense-head pass: min(S, frames_chunk_size)
    total: int  # peak for the given number of frames


def _dtype_bytes(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def _count_parameters(config: VGGTConfig) -> int:
    from vggt_py.model import VGGT

    with torch.device("meta"):
        return sum(p.numel() for p in VGGT(config).parameters())


def estimate_memory(
    config: VGGTConfig,
    frames: int,
    height: int = INFO_HEIGHT,
    width: int = INFO_WIDTH,
    *,
    compute_dtype: torch.dtype = torch.float32,
    frames_chunk_size: int | None = 8,
    num_params: int | None = None,
    tracking: bool = False,
) -> MemoryEstimate:
    """Peak memory (bytes) of reconstructing ``frames`` frames of ``height x width`` model pixels.

    ``num_params`` defaults to the parameter count of ``config`` (built on the meta device). With
    ``tracking`` the track head's feature maps are added (its correlation volumes, which grow with the
    number of query points, are not).
    """
    if frames < 0:
        raise ValueError(f"frames must be >= 0, got {frames}")
    patch = config.patch_size
    if height <= 0 or width <= 0 or height % patch or width % patch:
        raise ValueError(f"height and width must be positive multiples of the patch size {patch}, got {height}x{width}")
    if frames_chunk_size is not None and frames_chunk_size < 1:
        raise ValueError(f"frames_chunk_size must be None or >= 1, got {frames_chunk_size}")
    c = _dtype_bytes(compute_dtype)
    params = _count_parameters(config) if num_params is None else num_params
    weights = params * (4 + c if c < 4 else 4)

    pixels = height * width
    tokens = config.patch_start_idx + (height // patch) * (width // patch)
    dim = config.embed_dim
    kept = len(config.layers_needed()) * tokens * 2 * dim * 4
    images = 2 * 3 * pixels * 4
    mlp_ratio = config.aggregator.mlp_ratio
    block_work = tokens * dim * max(24 + 5 * c, 8 + int((2 * mlp_ratio + 1) * c))
    aggregator = images + kept + tokens * dim * 4 + block_work
    heads = images + kept + 36 * pixels

    dense = 0
    for head in (config.depth_head, config.point_head):
        if head.enabled:
            features = head.features
            full_res = features // 2 + 2 * _DPT_HIDDEN + 4
            dense = max(dense, 4 * pixels * full_res + int(4 * (8 / patch) ** 2 * pixels * features))
    if tracking and config.track_head.enabled:
        heads += int(4 * config.track_head.features * pixels / 4 * 4 / 3)  # H/2 x W/2 maps and their pyramid
    chunk = frames if frames_chunk_size is None else min(frames, frames_chunk_size)
    total = weights + _RUNTIME_OVERHEAD + max(frames * aggregator, frames * heads + chunk * dense)
    return MemoryEstimate(weights, aggregator, heads, dense, chunk, total)


def frames_that_fit(
    config: VGGTConfig,
    available: int,
    height: int = INFO_HEIGHT,
    width: int = INFO_WIDTH,
    *,
    compute_dtype: torch.dtype = torch.float32,
    frames_chunk_size: int | None = 8,
    num_params: int | None = None,
    tracking: bool = False,
) -> int:
    """Largest frame count whose :func:`estimate_memory` stays within 90 % of ``available`` bytes (0 if none)."""
    params = _count_parameters(config) if num_params is None else num_params
    budget = _MEMORY_MARGIN * available

    def fits(frames: int) -> bool:
        estimate = estimate_memory(
            config,
            frames,
            height,
            width,
            compute_dtype=compute_dtype,
            frames_chunk_size=frames_chunk_size,
            num_params=params,
            tracking=tracking,
        )
        return estimate.total <= budget

    if not fits(1):
        return 0
    lo, hi = 1, 2
    while fits(hi) and hi < 10**7:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # fits(lo) and not fits(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def available_memory(device: torch.device) -> int:
    """Free bytes: ``torch.cuda.mem_get_info`` on CUDA, ``MemAvailable`` of /proc/meminfo on CPU."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    available = _meminfo_available()
    if available is None:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(available)


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is PyTorch running out of memory (CUDA ``OutOfMemoryError``, or a CPU allocation failure)."""
    if isinstance(err, torch.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
