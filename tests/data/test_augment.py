"""Augmentations: crop / resize with the intrinsics kept right, colour jitter."""

from __future__ import annotations

import numpy as np
import pytest

from vggt_py.data.augment import AugmentConfig, color_jitter, crop_resize_frame
from vggt_py.data.scene import Frame


# ------------------------------------------------------------------------------------ augmentation
class TestCropResize:
    def test_intrinsics_known_values(self):
        K = np.array([[50.0, 0, 30], [0, 50, 20], [0, 0, 1]])
        frame = Frame(np.zeros((40, 60, 3), np.uint8), np.ones((40, 60), np.float32), K, np.eye(3, 4))
        out = crop_resize_frame(frame, (20, 30))
        # scale = max(24/40, 34/60) = 0.6 -> 24 x 36; c' = (c + 0.5) 0.6 - 0.5 = (17.8, 11.8);
        # strict crop at (round(11.8 - 10), round(17.8 - 15)) = (2, 3).
        assert out.image.shape == (20, 30, 3) and out.depth.shape == (20, 30)
        assert np.allclose(out.intrinsics, [[30.0, 0, 14.8], [0, 30.0, 9.8], [0, 0, 1]])
        assert np.array_equal(out.extrinsics, np.eye(3, 4))

    def test_geometry_stays_consistent(self, scene):
        """Every output depth pixel unprojects (new K) to a point that projects (old K) onto a source
        pixel holding that very depth value: the intrinsics follow the crop and resize."""
        rng = np.random.default_rng(0)
        for i in range(scene.num_frames):
            frame = Frame(
                scene.images[i],
                np.where(scene.valid_masks[i], scene.depths[i], 0).astype(np.float32),
                scene.intrinsics[i].astype(np.float64),
                scene.extrinsics[i].astype(np.float64),
            )
            out = crop_resize_frame(frame, (28, 42), rng, AugmentConfig())
            assert abs(out.intrinsics[0, 2] - 21) <= 0.5 and abs(out.intrinsics[1, 2] - 14) <= 0.5
            rows, cols = np.nonzero(out.depth > 0)
            z = out.depth[rows, cols].astype(np.float64)
            rays = np.linalg.inv(out.intrinsics) @ np.stack([cols, rows, np.ones_like(cols)]).astype(np.float64)
            pixels = frame.intrinsics @ (rays * z)
            u, v = pixels[0] / pixels[2], pixels[1] / pixels[2]
            hits = np.zeros(z.size, dtype=bool)
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    r = np.clip(np.round(v).astype(int) + dy, 0, 47)
                    c = np.clip(np.round(u).astype(int) + dx, 0, 63)
                    hits |= frame.depth[r, c] == out.depth[rows, cols]
            assert hits.mean() > 0.98

    def test_needs_an_rng_to_augment(self, scene):
        frame = Frame(scene.images[0], None, scene.intrinsics[0], scene.extrinsics[0])
        with pytest.raises(ValueError, match="needs an rng"):
            crop_resize_frame(frame, (14, 14), None, AugmentConfig())
        assert crop_resize_frame(frame, (14, 14)).depth.max() == 0  # no depth: all unknown


class TestColorJitter:
    def test_identity_when_disabled(self):
        images = np.random.default_rng(0).random((2, 5, 5, 3), dtype=np.float32)
        config = AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0, grayscale_prob=0)
        assert np.allclose(color_jitter(images, np.random.default_rng(1), config), images, atol=1e-5)

    def test_shared_and_independent_parameters(self):
        frame = np.random.default_rng(0).random((5, 5, 3), dtype=np.float32)
        images = np.stack([frame, frame])
        shared = color_jitter(images, np.random.default_rng(2), AugmentConfig(color_prob=1, shared_color_prob=1))
        assert np.array_equal(shared[0], shared[1]) and not np.allclose(shared[0], frame)
        independent = color_jitter(images, np.random.default_rng(2), AugmentConfig(color_prob=1, shared_color_prob=0))
        assert not np.allclose(independent[0], independent[1])
        assert 0 <= independent.min() and independent.max() <= 1

    def test_grayscale(self):
        images = np.random.default_rng(0).random((1, 4, 4, 3), dtype=np.float32)
        gray = color_jitter(images, np.random.default_rng(0), AugmentConfig(color_prob=0, grayscale_prob=1))
        assert np.allclose(gray[..., 0], gray[..., 1]) and np.allclose(gray[..., 1], gray[..., 2])
        assert np.allclose(gray[..., 0], images @ np.array([0.299, 0.587, 0.114], dtype=np.float32), atol=1e-6)

    def test_config_validation(self):
        with pytest.raises(ValueError, match="hue"):
            AugmentConfig(hue=0.7)
        with pytest.raises(ValueError, match="scale_range"):
            AugmentConfig(scale_range=(1.2, 0.8))
        with pytest.raises(ValueError, match="color_prob"):
            AugmentConfig(color_prob=1.5)
        with pytest.raises(ValueError, match=r"images must be \[S,H,W,3\]"):
            color_jitter(np.zeros((4, 4, 3)), np.random.default_rng(0), AugmentConfig())
