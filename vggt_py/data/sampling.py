"""Which frames and which image size make up each training sample.

:func:`sample_frames` picks the frames of one sample (an anchor, then frames whose depth reprojects
into it, :func:`covisibility_scores`); :class:`DynamicBatchSampler` draws, per batch, the frame count
``S`` and the image size ``H x W`` shared by the batch, and a seed per sample (:class:`SampleRequest`).
See docs/architecture.md, "Frame and batch sampling".
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch

from vggt_py.data.scene import VALID_DEPTH, Scene, pixels_to_world, world_to_pixels

__all__ = [
    "DynamicBatchSampler",
    "SampleRequest",
    "batch_image_size",
    "covisibility_scores",
    "sample_frames",
]


class SampleRequest(NamedTuple):
    """What :class:`MultiViewDataset` should produce: ``num_frames`` views of ``scene`` at ``height x width``."""

    scene: int
    num_frames: int
    height: int
    width: int
    seed: int


def _frame_points(depth: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``max_points`` valid pixels (u, v) [P,2] of a depth map, evenly spread, and their depths [P]."""
    rows, cols = np.nonzero(depth > VALID_DEPTH)
    if rows.size > max_points:
        pick = np.linspace(0, rows.size - 1, max_points).round().astype(np.int64)
        rows, cols = rows[pick], cols[pick]
    return np.stack([cols, rows], axis=1).astype(np.float64), depth[rows, cols].astype(np.float64)


def covisibility_scores(scene: Scene, anchor: int, max_points: int = 256, depth_tolerance: float = 0.1) -> np.ndarray:
    """How much of every frame's geometry the anchor frame sees: [F] in [0, 1] (1 for the anchor).

    Up to ``max_points`` valid depth pixels of frame ``j`` are unprojected and projected into the
    anchor; the score is the fraction landing inside the anchor image in front of it and not behind
    the anchor's own depth there (``z <= d (1 + depth_tolerance)``, checked where the anchor has depth).
    Frames without depth score 0.
    """
    num = scene.num_frames
    if not 0 <= anchor < num:
        raise ValueError(f"anchor must be in [0, {num}), got {anchor}")
    anchor_depth = scene.depth(anchor)
    height, width = scene.image_size(anchor)
    k_a, e_a = scene.intrinsics[anchor], scene.extrinsics[anchor]
    scores = np.zeros(num)
    for j in range(num):
        if j == anchor:
            scores[j] = 1.0
            continue
        depth = scene.depth(j)
        if depth is None:
            continue
        uv, z = _frame_points(depth, max_points)
        if z.size == 0:
            continue
        world = pixels_to_world(uv, z, scene.intrinsics[j], scene.extrinsics[j])
        pixels, za = world_to_pixels(world, k_a, e_a)
        u, v = pixels[:, 0], pixels[:, 1]
        ok = (za > 1e-9) & (u >= -0.5) & (u <= width - 0.5) & (v >= -0.5) & (v <= height - 0.5)
        if anchor_depth is not None and ok.any():
            col = np.clip(np.round(u[ok]).astype(np.int64), 0, width - 1)
            row = np.clip(np.round(v[ok]).astype(np.int64), 0, height - 1)
            ref = anchor_depth[row, col]
            occluded = (ref > VALID_DEPTH) & (za[ok] > ref * (1 + depth_tolerance))
            ok[np.flatnonzero(ok)[occluded]] = False
        scores[j] = ok.mean()
    return scores


def sample_frames(
    scene: Scene,
    num_frames: int,
    rng: np.random.Generator,
    covisibility: bool = True,
    min_covisibility: float = 0.05,
) -> np.ndarray:
    """Indices [num_frames] of the frames of one sample: a random anchor first, then the others.

    With ``covisibility`` and depth, the other frames are drawn among those whose
    :func:`covisibility_scores` with the anchor is at least ``min_covisibility``, with probability
    proportional to the score, without replacement. When too few frames qualify (or without
    depth: uniformly among all), the remaining slots repeat qualifying frames (the anchor if none).
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    total = scene.num_frames
    anchor = int(rng.integers(total))
    others = np.array([j for j in range(total) if j != anchor], dtype=np.int64)
    weights = np.ones(others.size)
    if covisibility and scene.has_depth and others.size:
        scores = covisibility_scores(scene, anchor)[others]
        keep = scores >= min_covisibility
        others, weights = others[keep], scores[keep]
    need = num_frames - 1
    if others.size >= need:
        chosen = rng.choice(others, size=need, replace=False, p=weights / weights.sum()) if need else others[:0]
    else:
        pool = others if others.size else np.array([anchor], dtype=np.int64)
        extra = rng.choice(pool, size=need - others.size, replace=True)
        chosen = rng.permutation(np.concatenate([others, extra]))
    return np.concatenate([[anchor], chosen]).astype(np.int64)


def batch_image_size(aspect: float, max_side: int, patch_size: int) -> tuple[int, int]:
    """(H, W) for aspect ratio H/W: the long side is ``max_side``, the other rounded down to a patch multiple."""
    if aspect <= 0:
        raise ValueError(f"aspect must be positive, got {aspect}")

    def short(length: float) -> int:
        return max(patch_size, math.floor(length / patch_size) * patch_size)

    if aspect <= 1:
        return short(max_side * aspect), max_side
    return max_side, short(max_side / aspect)


class DynamicBatchSampler(torch.utils.data.Sampler[list[SampleRequest]]):
    """Batches of :class:`SampleRequest` with a random frame count and aspect ratio per batch.

    For each global batch, ``S ~ U{frames}`` and ``aspect ~ U(aspect_range)`` (rounded to 2 decimals)
    are drawn and shared by all its scenes, which number ``max(1, images_per_batch // S)`` per
    replica (so a batch holds about ``images_per_batch`` images per process). Scenes are read from a
    stream of (shuffled) permutations of all scenes; an epoch is ``batches_per_epoch`` batches, or by
    default :meth:`pass_length` batches: one pass over the scenes on average, the same number in every
    epoch (the frame counts drawn do not change it). Each replica (DDP rank) gets its
    contiguous slice of every global batch, so all ranks step with the same S and H x W.

    Everything is a function of ``(seed, epoch)``: set the epoch with :meth:`set_epoch` and resume
    mid-epoch with :meth:`set_start_batch`.
    """

    def __init__(
        self,
        num_scenes: int,
        *,
        frames: tuple[int, int] = (2, 24),
        aspect_range: tuple[float, float] = (0.33, 1.0),
        max_side: int = 518,
        patch_size: int = 14,
        images_per_batch: int = 48,
        batches_per_epoch: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        checks = [
            (num_scenes >= 1, f"num_scenes must be >= 1, got {num_scenes}"),
            (1 <= frames[0] <= frames[1], f"frames must satisfy 1 <= min <= max, got {frames}"),
            (0 < aspect_range[0] <= aspect_range[1], f"aspect_range must satisfy 0 < lo <= hi, got {aspect_range}"),
            (
                patch_size >= 1 and max_side >= patch_size and max_side % patch_size == 0,
                f"max_side ({max_side}) must be a positive multiple of patch_size ({patch_size})",
            ),
            (images_per_batch >= 1, f"images_per_batch must be >= 1, got {images_per_batch}"),
            (batches_per_epoch is None or batches_per_epoch >= 1, "batches_per_epoch must be >= 1 or None"),
            (
                num_replicas >= 1 and 0 <= rank < num_replicas,
                f"need 0 <= rank < num_replicas, got {rank}, {num_replicas}",
            ),
            (seed >= 0, f"seed must be >= 0, got {seed}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"DynamicBatchSampler: {message}")
        self.num_scenes = num_scenes
        self.frames = (int(frames[0]), int(frames[1]))
        self.aspect_range = (float(aspect_range[0]), float(aspect_range[1]))
        self.max_side = max_side
        self.patch_size = patch_size
        self.images_per_batch = images_per_batch
        self.batches_per_epoch = batches_per_epoch
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.start_batch = 0
        self._memo: tuple[int, list[list[SampleRequest]]] | None = None
        self._length = batches_per_epoch or self.pass_length()

    def pass_length(self) -> int:
        """Batches of one average pass: ``ceil(num_scenes / E[scenes per global batch])``.

        ``S`` is uniform over ``frames``, a global batch holds ``num_replicas * max(1, images_per_batch // S)``
        scenes. With one frame count this visits every scene once per epoch; with a range some scenes
        may come twice and others wait for the next epoch (each epoch draws a new order).
        """
        counts = range(self.frames[0], self.frames[1] + 1)
        mean = self.num_replicas * sum(max(1, self.images_per_batch // s) for s in counts) / len(counts)
        return max(1, math.ceil(self.num_scenes / mean - 1e-9))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.start_batch = 0

    def set_start_batch(self, start: int) -> None:
        """Skip the first ``start`` batches of the current epoch (to resume mid-epoch)."""
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.start_batch = start

    def _shape(self, epoch: int, index: int) -> tuple[int, int, int]:
        rng = np.random.default_rng((self.seed, epoch, index))
        frames = int(rng.integers(self.frames[0], self.frames[1] + 1))
        aspect = round(float(rng.uniform(*self.aspect_range)), 2)
        return (frames, *batch_image_size(aspect, self.max_side, self.patch_size))

    def _scene_stream(self, epoch: int) -> Iterator[int]:
        cycle = 0
        while True:
            if self.shuffle:
                yield from np.random.default_rng((self.seed, epoch, 2**31 + cycle)).permutation(self.num_scenes)
            else:
                yield from range(self.num_scenes)
            cycle += 1

    def global_batches(self, epoch: int) -> list[list[SampleRequest]]:
        """Every global batch of ``epoch`` (all replicas' samples, replica slices contiguous)."""
        if self._memo is not None and self._memo[0] == epoch:
            return self._memo[1]
        stream = self._scene_stream(epoch)
        batches: list[list[SampleRequest]] = []
        for index in range(self._length):
            frames, height, width = self._shape(epoch, index)
            size = max(1, self.images_per_batch // frames) * self.num_replicas
            seeds = np.random.SeedSequence((self.seed, epoch, index)).generate_state(size, dtype=np.uint64)
            batch = [
                SampleRequest(int(next(stream)), frames, height, width, int(seeds[k] >> np.uint64(1)))
                for k in range(size)
            ]
            batches.append(batch)
        self._memo = (epoch, batches)
        return batches

    def num_batches(self, epoch: int) -> int:
        """Batches in ``epoch``: the same for every epoch and replica."""
        return self._length

    def __len__(self) -> int:
        return max(self.num_batches(self.epoch) - self.start_batch, 0)

    def __iter__(self) -> Iterator[list[SampleRequest]]:
        for batch in self.global_batches(self.epoch)[self.start_batch :]:
            local = len(batch) // self.num_replicas
            yield batch[self.rank * local : (self.rank + 1) * local]
