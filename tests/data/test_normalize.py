"""Ground-truth normalisation to the first camera and unit mean point distance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vggt_py.data.normalize import normalize_to_first_camera


# ----------------------------------------------------------------------------------- normalisation
class TestNormalization:
    def test_known_values(self):
        K = torch.tensor([[1.0, 0, 0.5], [0, 1, 0.5], [0, 0, 1]]).repeat(2, 1, 1)
        extrinsics = torch.eye(3, 4).repeat(2, 1, 1)
        extrinsics[1, 2, 3] = -1.0
        depths = torch.zeros(2, 2, 2)
        depths[0] = 2.0  # points (+-1, +-1, 2): |X| = sqrt(6)
        out = normalize_to_first_camera(extrinsics.double(), K.double(), depths.double())
        scale = 4 * math.sqrt(6) / (4 + 1e-3)
        assert out["scale"].item() == pytest.approx(scale)
        assert torch.allclose(out["depths"][0], torch.full((2, 2), 2 / scale, dtype=torch.float64))
        assert out["extrinsics"][1, 2, 3].item() == pytest.approx(-1 / scale)
        assert torch.equal(out["extrinsics"][0], torch.eye(3, 4, dtype=torch.float64))
        assert out["point_masks"].sum() == 4
        assert out["world_points"][0, 0, 0].tolist() == pytest.approx([-1 / scale, -1 / scale, 2 / scale])

    def test_independent_of_the_world_frame(self, scene):
        K = torch.from_numpy(scene.intrinsics).double()
        E = torch.from_numpy(scene.extrinsics).double()
        depths = torch.from_numpy(np.where(scene.valid_masks, scene.depths, 0)).double()
        angle = 0.7
        world_change = torch.tensor(
            [
                [math.cos(angle), -math.sin(angle), 0, 3.0],
                [math.sin(angle), math.cos(angle), 0, -1.0],
                [0, 0, 1, 0.5],
                [0, 0, 0, 1],
            ],
            dtype=torch.float64,
        )  # new world = T old world, so E' = E T^-1
        moved = E @ torch.linalg.inv(world_change)
        a = normalize_to_first_camera(E, K, depths)
        b = normalize_to_first_camera(moved, K, depths)
        for key in ("extrinsics", "depths", "world_points"):
            assert torch.allclose(a[key], b[key], atol=1e-6), key  # R^T vs R^-1 of float32-rounded R
        valid = a["point_masks"]
        assert (a["world_points"].norm(dim=-1)[valid]).mean().item() == pytest.approx(1.0, rel=1e-3)

    def test_batched_and_bad_shapes(self, scene):
        K = torch.from_numpy(scene.intrinsics).double()[None].repeat(2, 1, 1, 1)
        E = torch.from_numpy(scene.extrinsics).double()[None].repeat(2, 1, 1, 1)
        depths = torch.from_numpy(scene.depths).double()[None].repeat(2, 1, 1, 1)
        assert normalize_to_first_camera(E, K, depths)["scale"].shape == (2,)
        with pytest.raises(ValueError, match="depths"):
            normalize_to_first_camera(E, K, depths[:, :2])
        with pytest.raises(ValueError, match="extrinsics"):
            normalize_to_first_camera(K, K, depths)
