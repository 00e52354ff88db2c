"""Multi-view training data: :class:`MultiViewDataset`, the sample assembled from the steps below.

Pipeline (docs/architecture.md, "Training data"), for one sample of a batch:

1. a :class:`DynamicBatchSampler` draws, per batch, the frame count ``S`` and the image size
   ``H x W`` shared by every scene of the batch, and a seed per sample (:class:`SampleRequest`);
2. :class:`MultiViewDataset` opens the scene (:class:`SceneCollection`: synthetic scenes rendered on
   the fly, scene folders, or COLMAP models), picks ``S`` frames (:func:`sample_frames`: an anchor
   frame first, then frames whose depth reprojects into it), crops and resizes each frame around
   its principal point with the intrinsics updated (:func:`crop_resize_frame`), jitters colours
   (:func:`color_jitter`), builds ground-truth tracks from depth (:func:`tracks_from_depth`) and
   normalises the ground truth to the first camera and unit mean point distance
   (:func:`normalize_to_first_camera`).

Every random draw of a sample comes from its own seed, so a sample is a pure function of its
request: data loading is reproducible across runs, worker counts, world sizes and resumes.

Conventions: images are RGB; intrinsics are OpenCV K with the integer pixel at the pixel centre;
extrinsics are camera-from-world ``[R | t]`` (OpenCV axes); depth is camera-frame z, 0 where unknown.

The steps live in their own modules: :mod:`~vggt_py.data.scene` (scene types),
:mod:`~vggt_py.data.collection` (:class:`SceneCollection`), :mod:`~vggt_py.data.sampling` (frames and
batches), :mod:`~vggt_py.data.augment`, :mod:`~vggt_py.data.tracks` and :mod:`~vggt_py.data.normalize`.
Their public names are re-exported here.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from vggt_py.data.augment import AugmentConfig, color_jitter, crop_resize_frame
from vggt_py.data.collection import SceneCollection
from vggt_py.data.normalize import normalize_to_first_camera
from vggt_py.data.sampling import (
    DynamicBatchSampler,
    SampleRequest,
    batch_image_size,
    covisibility_scores,
    sample_frames,
)
from vggt_py.data.scene import VALID_DEPTH, ArrayScene, Frame, Scene, SceneError, pixels_to_world, world_to_pixels
from vggt_py.data.tracks import tracks_from_depth

__all__ = [
    "ArrayScene",
    "AugmentConfig",
    "DynamicBatchSampler",
    "Frame",
    "MultiViewDataset",
    "SampleRequest",
    "Scene",
    "SceneCollection",
    "SceneError",
    "batch_image_size",
    "color_jitter",
    "covisibility_scores",
    "crop_resize_frame",
    "normalize_to_first_camera",
    "pixels_to_world",
    "sample_frames",
    "tracks_from_depth",
    "world_to_pixels",
]


class MultiViewDataset(torch.utils.data.Dataset):
    """Training / validation samples from a :class:`SceneCollection`.

    Indexed by :class:`SampleRequest` (normally from :class:`DynamicBatchSampler`) or by a plain scene
    index (``default_frames`` views at ``default_size``, seed = index). A sample is a dict:

    =================  =====================  ==================================================
    key                shape                  meaning
    =================  =====================  ==================================================
    images             [S,3,H,W] float32      RGB in [0, 1]
    depths             [S,H,W] float32        normalised z-depth, 0 where unknown
    intrinsics         [S,3,3] float32        K after cropping / resizing
    extrinsics         [S,3,4] float32        camera-from-world, frame 0 = identity, scale-normalised
    world_points       [S,H,W,3] float32      points in camera 0's frame, scale-normalised
    point_masks        [S,H,W] bool           valid depth
    scale              [] float32             the normalisation divisor
    frame_ids          [S] int64              frames of the scene used
    tracks             [S,N,2] float32        (with ``num_tracks``) pixel tracks of frame-0 points
    track_visibility   [S,N] bool             (with ``num_tracks``)
    scene              str                    scene name
    =================  =====================  ==================================================

    Args:
        scenes: the scenes.
        augment: training augmentations (None: deterministic crop / resize, no colour jitter).
        num_tracks: ground-truth tracks per sample (0: none).
        covisibility: prefer frames whose depth reprojects into the anchor frame.
        min_covisibility: the score a frame needs to count as covisible.
        depth_percentile: zero each frame's depth above this percentile of its valid values (None: keep).
        default_frames, default_size: used for a plain integer index.
        cache_size: opened scenes kept in memory (per process).
    """

    def __init__(
        self,
        scenes: SceneCollection,
        *,
        augment: AugmentConfig | None = None,
        num_tracks: int = 0,
        covisibility: bool = True,
        min_covisibility: float = 0.05,
        depth_percentile: float | None = 98.0,
        default_frames: int = 2,
        default_size: tuple[int, int] = (518, 518),
        cache_size: int = 4,
    ):
        if num_tracks < 0:
            raise ValueError(f"num_tracks must be >= 0, got {num_tracks}")
        if depth_percentile is not None and not 0 < depth_percentile <= 100:
            raise ValueError(f"depth_percentile must be in (0, 100] or None, got {depth_percentile}")
        if cache_size < 0 or default_frames < 1:
            raise ValueError("cache_size must be >= 0 and default_frames >= 1")
        self.scenes = scenes
        self.augment = augment
        self.num_tracks = num_tracks
        self.covisibility = covisibility
        self.min_covisibility = min_covisibility
        self.depth_percentile = depth_percentile
        self.default_frames = default_frames
        self.default_size = default_size
        self.cache_size = cache_size
        self._cache: OrderedDict[int, Scene] = OrderedDict()

    def __len__(self) -> int:
        return len(self.scenes)

    def scene(self, index: int) -> Scene:
        """Open scene ``index`` (through a small LRU cache)."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        scene = self.scenes.open(index)
        if self.cache_size:
            self._cache[index] = scene
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return scene

    def _request(self, item: SampleRequest | int) -> SampleRequest:
        if isinstance(item, SampleRequest):
            request = item
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            request = SampleRequest(int(item), self.default_frames, *self.default_size, int(item))
        else:
            raise ValueError(f"index must be a SampleRequest or an int, got {type(item).__name__}")
        if not 0 <= request.scene < len(self):
            raise IndexError(f"scene index {request.scene} out of range for {len(self)} scenes")
        if request.num_frames < 1 or request.height < 1 or request.width < 1:
            raise ValueError(f"invalid request {request}: frames, height and width must be positive")
        return request

    def _clip_depth(self, depth: np.ndarray | None) -> np.ndarray | None:
        if depth is None or self.depth_percentile is None or self.depth_percentile >= 100:
            return depth
        valid = depth > VALID_DEPTH
        if not valid.any():
            return depth
        limit = np.percentile(depth[valid], self.depth_percentile)
        return np.where(depth > limit, 0.0, depth).astype(np.float32)

    def __getitem__(self, item: SampleRequest | int) -> dict[str, Any]:
        request = self._request(item)
        rng = np.random.default_rng(request.seed)
        scene = self.scene(request.scene)
        ids = sample_frames(scene, request.num_frames, rng, self.covisibility, self.min_covisibility)
        target = (request.height, request.width)
        frames = []
        for i in ids:
            raw = scene.load_frame(int(i))
            raw = Frame(raw.image, self._clip_depth(raw.depth), raw.intrinsics, raw.extrinsics)
            frames.append(crop_resize_frame(raw, target, rng, self.augment))
        images = np.stack([f.image for f in frames]).astype(np.float32) / 255.0
        if self.augment is not None:
            images = color_jitter(images, rng, self.augment)
        depths = np.stack([f.depth for f in frames])
        intrinsics = np.stack([f.intrinsics for f in frames])
        extrinsics = np.stack([f.extrinsics for f in frames])
        normalized = normalize_to_first_camera(
            torch.from_numpy(extrinsics), torch.from_numpy(intrinsics), torch.from_numpy(depths.astype(np.float64))
        )
        sample: dict[str, Any] = {
            "images": torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))),
            "depths": normalized["depths"].float(),
            "intrinsics": torch.from_numpy(intrinsics).float(),
            "extrinsics": normalized["extrinsics"].float(),
            "world_points": normalized["world_points"].float(),
            "point_masks": normalized["point_masks"],
            "scale": normalized["scale"].float(),
            "frame_ids": torch.from_numpy(ids),
            "scene": scene.name,
        }
        if self.num_tracks:
            tracks, visibility = tracks_from_depth(depths, intrinsics, extrinsics, self.num_tracks, rng)
            sample["tracks"] = torch.from_numpy(tracks)
            sample["track_visibility"] = torch.from_numpy(visibility)
        return sample
