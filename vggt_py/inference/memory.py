"""The inference memory model: how many bytes a reconstruction needs, and how many frames fit.

:func:`estimate_memory`, for ``S`` frames of ``H x W`` pixels, patch size ``p``,
``P = 1 + registers + (H/p)(W/p)`` tokens per frame of width ``C``, ``L`` aggregator layers kept for
the heads, ``c`` bytes per value of the compute dtype (4 fp32, 2 bf16/fp16)::

    weights     = params * 2 (bf16/fp16 storage), else params * (4 + c if c < 4 else 4)  # + autocast copies
    base/frame  = images 24HW + kept L*P*2C*c + streams 3*P*C*4
    attn/frame  = P*C*(8 + 3c)                                 # one block's live attention tensors
    mlp         = min(S*P, T) * C * (4 + mlp_ratio*c)          # the MLP runs on slices of T tokens
    head/frame  = base + outputs 36HW                          # depth, points, confidences, unprojection
    dense/frame = 4*HW*(F/2 + 64 + out) + 6*(8/p)^2*HW*F       # one DPT head pass at feature width F
    total(S)    = weights + runtime + max(S*base + max(S*attn, mlp), S*head + min(S, chunk)*dense)

with ``T = MLP_TOKEN_CHUNK`` (``vggt_py.layers.block``), ``chunk`` the dense heads'
``frames_chunk_size`` and ``runtime`` a fixed 256 MiB of allocator caches and kernel workspaces.
Kept layers are stored in the compute dtype (autocast's, or bf16 weights'). Attention kernels are
assumed memory-efficient (no S*P x S*P matrix), as PyTorch's fused SDPA is on CUDA and CPU. For one
of ``R`` context-parallel processes, ``S`` is its largest share ``ceil(S/R)`` and the trunk adds one
global block's keys and values of every frame, ``2*S*P*C*c``. :func:`frames_that_fit` keeps a
further 10 % margin.

Calibrated on CPU with ``benchmarks/memory_breakdown.py`` (VGGT-1B architecture, 518x392, fp32,
4 frames, dense-head chunk 1, peak RSS above the loaded weights): measured 458 MiB (trunk 293, dense
heads 458), estimated 474 MiB. Not yet checked on a GPU.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch

from vggt_py.config import VGGTConfig
from vggt_py.layers.block import MLP_TOKEN_CHUNK

__all__ = [
    "INFO_HEIGHT",
    "INFO_WIDTH",
    "MemoryEstimate",
    "available_memory",
    "estimate_memory",
    "frames_that_fit",
    "is_out_of_memory",
    "typical_frame_size",
]

# The reference resolution of the estimates: a 4:3 landscape photo in crop mode at VGGT-1B's img_size 518
# (`vggt-py info` uses the model's own img_size instead, see typical_frame_size).
INFO_HEIGHT, INFO_WIDTH = 392, 518


def typical_frame_size(config: VGGTConfig) -> tuple[int, int]:
    """``(H, W)`` of a 4:3 landscape photo in crop mode for ``config``: ``W = img_size``, ``H`` its 3/4 in patches.

    The height is rounded (half to even) to a multiple of the patch size, as :mod:`vggt_py.inference.images`
    does: ``(392, 518)`` for VGGT-1B, ``(168, 224)`` for the bundled model.
    """
    patch = config.patch_size
    return patch * max(1, round(config.img_size * 3 / 4 / patch)), config.img_size
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
    weight_dtype: torch.dtype = torch.float32,
    ranks: int = 1,
) -> MemoryEstimate:
    """Peak memory (bytes) of reconstructing ``frames`` frames of ``height x width`` model pixels.

    ``num_params`` defaults to the parameter count of ``config`` (built on the meta device). With
    ``tracking`` the track head's feature maps are added (its correlation volumes, which grow with the
    number of query points, are not). ``weight_dtype`` is the storage dtype of the weights (bf16:
    2 bytes each, no autocast copies). ``ranks`` > 1: the peak of one process of a context-parallel
    run (``vggt_py.parallel``), which holds its share of the frames plus every frame's keys and
    values of one global block.
    """
    if frames < 0:
        raise ValueError(f"frames must be >= 0, got {frames}")
    if ranks < 1:
        raise ValueError(f"ranks must be >= 1, got {ranks}")
    patch = config.patch_size
    if height <= 0 or width <= 0 or height % patch or width % patch:
        raise ValueError(f"height and width must be positive multiples of the patch size {patch}, got {height}x{width}")
    if frames_chunk_size is not None and frames_chunk_size < 1:
        raise ValueError(f"frames_chunk_size must be None or >= 1, got {frames_chunk_size}")
    c = _dtype_bytes(compute_dtype)
    params = _count_parameters(config) if num_params is None else num_params
    if _dtype_bytes(weight_dtype) < 4:
        weights = params * _dtype_bytes(weight_dtype)
    else:
        weights = params * (4 + c if c < 4 else 4)

    pixels = height * width
    tokens = config.patch_start_idx + (height // patch) * (width // patch)
    dim = config.embed_dim
    kept = len(config.layers_needed()) * tokens * 2 * dim * c  # stored in the compute dtype
    base = 2 * 3 * pixels * 4 + kept + 3 * tokens * dim * 4  # images, kept layers, residual streams
    attention = tokens * dim * (8 + 3 * c)  # one block's live attention tensors, per frame
    aggregator = base + attention
    heads = base + 36 * pixels

    dense = 0
    for head in (config.depth_head, config.point_head):
        if head.enabled:
            features = head.features
            full_res = features // 2 + 2 * _DPT_HIDDEN + 4
            dense = max(dense, 4 * pixels * full_res + int(6 * (8 / patch) ** 2 * pixels * features))
    if tracking and config.track_head.enabled:
        heads += int(4 * config.track_head.features * pixels / 4 * 4 / 3)  # H/2 x W/2 maps and their pyramid
    local = -(-frames // ranks)  # the largest share of the frames
    # the MLP half of a block runs on slices of at most MLP_TOKEN_CHUNK tokens, after the attention half
    mlp = min(local * tokens, MLP_TOKEN_CHUNK) * dim * (4 + int(config.aggregator.mlp_ratio * c))
    gathered = 2 * frames * tokens * dim * c if ranks > 1 else 0  # one global block's keys and values
    chunk = local if frames_chunk_size is None else min(local, frames_chunk_size)
    trunk = local * base + max(local * attention + gathered, mlp)
    total = weights + _RUNTIME_OVERHEAD + max(trunk, local * heads + chunk * dense)
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
    weight_dtype: torch.dtype = torch.float32,
    ranks: int = 1,
) -> int:
    """Largest frame count whose :func:`estimate_memory` stays within 90 % of ``available`` bytes (0 if none).

    With ``ranks`` > 1, ``available`` is one process's memory and the count is for the whole scene.
    """
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
            weight_dtype=weight_dtype,
            ranks=ranks,
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
