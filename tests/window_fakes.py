"""A synthetic long trajectory and a fake per-window predictor for the windowed-reconstruction tests.

Each "prediction" is the ground truth seen through its own random Sim(3), with per-frame camera noise
(0.3 degrees, 0.005 units; the depth points are unprojected with the noisy camera, as the model does),
1 % depth noise and random confidences, so joins carry real errors and drift accumulates.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from vggt_py.geometry import similarity_matrix, transform_extrinsics, transform_points
from vggt_py.inference.reconstruction import Reconstruction

H, W = 12, 16
K = np.array([[12.0, 0.0, 7.5], [0.0, 12.0, 5.5], [0.0, 0.0, 1.0]])
ROOM, CIRCLE = 6.0, 2.0  # cylinder wall radius, camera circle radius
TEXTURE = np.random.default_rng(7).uniform(0, 0.3, size=(2, 12)) * [[1.0], [20.0]]  # wall: random Fourier series


def loop_trajectory(frames: int = 160, turns: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """GT camera-from-world [S, 3, 4] on a circle looking outward-forward, and depth [S, H, W] of the wall."""
    ext, depth = np.zeros((frames, 3, 4)), np.zeros((frames, H, W))
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)  # z = 1
    for i in range(frames):
        theta = 2 * np.pi * turns * i / frames
        centre = CIRCLE * np.array([np.cos(theta), 0.0, np.sin(theta)])
        view = np.array([np.cos(theta + 1.0), 0.0, np.sin(theta + 1.0)])
        down = np.array([0.0, 1.0, 0.0])
        world_from_cam = np.stack([np.cross(down, view), down, view], axis=1)
        ext[i, :, :3] = world_from_cam.T
        ext[i, :, 3] = -world_from_cam.T @ centre
        d = rays @ world_from_cam.T  # [H, W, 3] world directions
        a = d[..., 0] ** 2 + d[..., 2] ** 2
        b = 2 * (centre[0] * d[..., 0] + centre[2] * d[..., 2])
        c = centre[0] ** 2 + centre[2] ** 2 - ROOM**2
        depth[i] = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
    return ext, depth


class FakePredictor:
    """Ground truth through a random Sim(3) per call, plus noise; a corrupted frame ruins its whole window."""

    def __init__(self, ext: np.ndarray, depth: np.ndarray, corrupted: int | None = None, seed: int = 0) -> None:
        self.ext, self.depth, self.corrupted, self.seed = ext, depth, corrupted, seed
        self.calls: list[list[int]] = []

    def __call__(self, frames):
        frames = list(frames)
        self.calls.append(frames)
        rng = np.random.default_rng([self.seed, len(self.calls), *frames])
        sim = similarity_matrix(
            float(rng.uniform(0.5, 2.0)), Rotation.random(random_state=rng).as_matrix(), rng.normal(size=3)
        )
        count = len(frames)
        ext = np.zeros((count, 3, 4))
        depth = np.zeros((count, H, W), dtype=np.float32)
        points = np.zeros((count, H, W, 3), dtype=np.float32)
        colors = np.zeros((count, H, W, 3), dtype=np.uint8)
        v, u = np.mgrid[0:H, 0:W].astype(np.float64)
        for k, f in enumerate(frames):
            noise_r = Rotation.from_rotvec(rng.normal(scale=np.radians(0.3), size=3)).as_matrix()
            e = self.ext[f].copy()
            e[:, :3] = noise_r @ e[:, :3]
            e[:, 3] = noise_r @ e[:, 3] + rng.normal(scale=0.005, size=3)
            z = self.depth[f] * (1 + rng.normal(scale=0.01, size=(H, W)))
            if self.corrupted is not None and self.corrupted in frames:
                z = rng.uniform(0.5, 20.0, size=(H, W))
            cam = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], -1)
            world = (cam - e[:, 3]) @ e[:, :3]  # R^T (X_c - t)
            gt_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1) * self.depth[f][..., None]
            gt_world = (gt_cam - self.ext[f][:, 3]) @ self.ext[f][:, :3]
            angle = np.arctan2(gt_world[..., 2], gt_world[..., 0])
            texture = np.einsum("k,hwk->hw", TEXTURE[0], np.sin(np.arange(1, 13) * angle[..., None] + TEXTURE[1]))
            texture += np.sin(2 * gt_world[..., 1])
            colors[k] = np.clip(127 + 50 * texture, 0, 255)[..., None].astype(np.uint8)
            ext[k] = transform_extrinsics(sim, e)
            depth[k] = z * np.linalg.det(sim[:3, :3]) ** (1 / 3)
            points[k] = transform_points(sim, world)
        return Reconstruction(
            extrinsics=ext.astype(np.float32),
            intrinsics=np.tile(K.astype(np.float32), (count, 1, 1)),
            depth=depth,
            depth_conf=rng.uniform(1.0, 3.0, size=(count, H, W)).astype(np.float32),
            points_from_depth=points,
            colors=colors,
            names=[f"frame{f:03d}.png" for f in frames],
            original_sizes=np.tile([W, H], (count, 1)),
            transforms=np.tile(np.eye(3), (count, 1, 1)),
            valid_regions=np.tile([0, 0, W, H], (count, 1)),
            pose_encoding=np.zeros((count, 9), dtype=np.float32),
        )
