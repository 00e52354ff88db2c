"""Ground-truth tracks from depth."""

from __future__ import annotations

import numpy as np
import torch

from vggt_py.data.tracks import tracks_from_depth
from vggt_py.geometry import project_points


# ------------------------------------------------------------------------------------------ tracks
class TestTracks:
    def test_tracks_follow_the_geometry(self, scene):
        depths = np.where(scene.valid_masks, scene.depths, 0).astype(np.float32)
        tracks, vis = tracks_from_depth(depths, scene.intrinsics, scene.extrinsics, 32, np.random.default_rng(0))
        assert tracks.shape == (4, 32, 2) and vis.shape == (4, 32)
        assert vis[0].all() and (vis[1:].sum(0) >= 1).all()
        query = tracks[0].astype(int)
        assert np.array_equal(query, tracks[0]) and (depths[0][query[:, 1], query[:, 0]] > 0).all()
        points = scene.world_points[0][query[:, 1], query[:, 0]]
        for i in range(1, 4):
            uv, _ = project_points(
                torch.from_numpy(points[None]).double(),
                torch.from_numpy(scene.intrinsics[i : i + 1]).double(),
                torch.from_numpy(scene.extrinsics[i : i + 1]).double(),
            )
            assert np.allclose(uv[0].numpy()[vis[i]], tracks[i][vis[i]], atol=1e-3)
            assert ((tracks[i][vis[i]] >= 4) & (tracks[i][vis[i]] <= np.array([59, 43]))).all()

    def test_occluded_and_padded(self, scene):
        depths = np.where(scene.valid_masks, scene.depths, 0).astype(np.float32)
        depths[2] = 0.05  # a wall in front of camera 2
        tracks, vis = tracks_from_depth(depths, scene.intrinsics, scene.extrinsics, 16, np.random.default_rng(0))
        assert not vis[2].any()
        tiny = np.zeros_like(depths)
        tiny[:, 10:12, 10:12] = depths[:, 10:12, 10:12]  # 4 candidate queries at most
        tracks, vis = tracks_from_depth(tiny, scene.intrinsics, scene.extrinsics, 16, np.random.default_rng(0))
        assert vis[0].sum() <= 4 and not vis[:, 4:].any() and not tracks[:, 4:].any()
