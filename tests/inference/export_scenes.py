"""Ground-truth reconstructions of a synthetic room for the export tests (importable as ``inference.export_scenes``).

:func:`ground_truth_reconstruction` builds a :class:`Reconstruction` whose cameras are the exact cameras of a
procedural room (:mod:`vggt_py.data.synthetic`, world z up), seen through the real preprocessing of
photos of ``original`` size (crop or pad to ``target`` model pixels): the model intrinsics are
``transform @ K``, the depth is rendered exactly at model resolution, and the world is frame 0's camera
(the reconstruction convention). It also returns the original-pixel ground truth to test exports against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from vggt_py.data.synthetic import SceneConfig, render_frames, sample_cameras, sample_layout
from vggt_py.geometry import unproject_depth
from vggt_py.inference.images import preprocess_image
from vggt_py.inference.reconstruction import Reconstruction


@dataclass(frozen=True)
class GroundTruth:
    rec: Reconstruction
    intrinsics: np.ndarray  # [S, 3, 3] float64, original pixels (integer = pixel centre)
    extrinsics: np.ndarray  # [S, 3, 4] float64, camera-from-world in the reconstruction's world (frame 0)
    room_up: np.ndarray  # [3] the room's up direction (+z of the synthetic world) in the reconstruction's world


def _to_4x4(extrinsic: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3] = extrinsic
    return out


def ground_truth_reconstruction(
    frames: int = 4,
    original: tuple[int, int] = (96, 64),
    target: int = 56,
    mode: str = "crop",
    seed: int = 3,
) -> GroundTruth:
    width, height = original
    config = SceneConfig(num_frames=frames, height=height, width=width, num_objects=3, num_tracks=0)
    layout_seq, camera_seq, _ = np.random.SeedSequence(seed).spawn(3)
    layout = sample_layout(config, np.random.default_rng(layout_seq))
    k_orig, e_room = sample_cameras(config, layout, np.random.default_rng(camera_seq))
    placed = preprocess_image(Image.new("RGB", original), mode=mode, target_size=target, patch_size=14)
    transform = placed.transform.numpy().astype(np.float64)
    model_h, model_w = placed.image.shape[1:]
    k_model = transform @ k_orig  # original pixel -> model pixel, both pixel-centre conventions
    colours, depth, _, valid = render_frames(layout.world, k_model, e_room, model_h, model_w)
    # the reconstruction's world is camera 0: E' = E @ inverse(E_0)
    room_from_cam0 = np.linalg.inv(_to_4x4(e_room[0]))
    extrinsics = np.stack([(_to_4x4(e) @ room_from_cam0)[:3] for e in e_room])
    depth = np.where(valid, depth, 0.0)
    points = unproject_depth(torch.from_numpy(depth), torch.from_numpy(k_model), torch.from_numpy(extrinsics)).numpy()
    rec = Reconstruction(
        extrinsics=extrinsics.astype(np.float32),
        intrinsics=k_model.astype(np.float32),
        depth=depth.astype(np.float32),
        depth_conf=np.where(valid, 2.0, 1.0).astype(np.float32),
        points_from_depth=points.astype(np.float32),
        colors=colours,
        names=[f"frame_{i:02d}.png" for i in range(frames)],
        original_sizes=np.tile([width, height], (frames, 1)).astype(np.int64),
        transforms=np.repeat(transform[None], frames, axis=0),
        valid_regions=np.tile(placed.valid_region, (frames, 1)).astype(np.int64),
        pose_encoding=np.zeros((frames, 9), dtype=np.float32),
        metadata={"mode": mode},
    )
    room_up = room_from_cam0[:3, :3].T @ np.array([0.0, 0.0, 1.0])  # a direction: rotation only
    return GroundTruth(rec, k_orig, extrinsics, room_up)
