"""Known-value tests of Sim(3) matrices and the robust Sim(3) estimator."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vggt_py.geometry import (
    compose_similarity,
    invert_similarity,
    robust_similarity,
    similarity_matrix,
    similarity_parts,
    transform_extrinsics,
    transform_points,
)


def _random_sim(rng: np.random.Generator) -> np.ndarray:
    return similarity_matrix(float(rng.uniform(0.3, 3.0)), Rotation.random(random_state=rng).as_matrix(), rng.normal(size=3))


def test_known_values() -> None:
    rz90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    m = similarity_matrix(2.0, rz90, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(transform_points(m, np.array([1.0, 0.0, 0.0])), [1.0, 2.0, 0.0])
    s, r, t = similarity_parts(m)
    assert s == pytest.approx(2.0)
    np.testing.assert_allclose(r, rz90, atol=1e-15)
    np.testing.assert_allclose(t, [1.0, 0.0, 0.0])
    inv = invert_similarity(m)
    np.testing.assert_allclose(transform_points(inv, np.array([1.0, 2.0, 0.0])), [1.0, 0.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(compose_similarity(m, inv), np.eye(4), atol=1e-15)


def test_compose_applies_second_first() -> None:
    rng = np.random.default_rng(0)
    a, b = _random_sim(rng), _random_sim(rng)
    x = rng.normal(size=(5, 3))
    np.testing.assert_allclose(transform_points(compose_similarity(a, b), x), transform_points(a, transform_points(b, x)))


def test_transform_extrinsics_keeps_projection_and_scales_depth() -> None:
    rng = np.random.default_rng(1)
    sim = _random_sim(rng)
    scale = similarity_parts(sim)[0]
    rot = Rotation.random(random_state=rng).as_matrix()
    ext = np.concatenate([rot, rng.normal(size=(3, 1))], axis=1)  # [3, 4]
    world = rng.normal(size=(10, 3)) + [0, 0, 5]
    cam_old = world @ ext[:, :3].T + ext[:, 3]
    new_ext = transform_extrinsics(sim, ext)
    cam_new = transform_points(sim, world) @ new_ext[:, :3].T + new_ext[:, 3]
    np.testing.assert_allclose(cam_new, scale * cam_old, atol=1e-12)  # same rays, depth times s
    np.testing.assert_allclose(new_ext[:, :3] @ new_ext[:, :3].T, np.eye(3), atol=1e-12)  # still rigid
    stacked = transform_extrinsics(sim, np.stack([ext, ext]).astype(np.float32))
    assert stacked.shape == (2, 3, 4) and stacked.dtype == np.float32


def test_robust_similarity_recovers_sim_with_outliers() -> None:
    rng = np.random.default_rng(2)
    truth = _random_sim(rng)
    src = rng.uniform(-1, 1, size=(2000, 3))
    dst = transform_points(truth, src) + rng.normal(scale=1e-3, size=src.shape)
    bad = rng.random(2000) < 0.4  # 40 % gross outliers
    dst[bad] += rng.normal(scale=2.0, size=(int(bad.sum()), 3))
    fit = robust_similarity(src, dst, rng.uniform(1, 5, size=2000))
    assert fit is not None
    np.testing.assert_allclose(fit.matrix, truth, atol=2e-3)
    assert fit.scale == pytest.approx(similarity_parts(truth)[0], rel=1e-3)
    assert 0.55 < fit.inlier_ratio < 0.65
    assert (fit.inliers[~bad]).mean() > 0.99 and (fit.inliers[bad]).mean() < 0.05
    assert fit.residual < 5e-3


def test_robust_similarity_ignores_non_finite_and_degenerate() -> None:
    src = np.array([[0.0, 0, 0], [1, 0, 0], [np.nan, 0, 0]])
    assert robust_similarity(src, src.copy()) is None  # 2 usable pairs
    with pytest.raises(ValueError, match="src and dst"):
        robust_similarity(np.zeros((4, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="weights"):
        robust_similarity(np.zeros((4, 3)), np.zeros((4, 3)), np.ones(3))


def test_bad_matrices_rejected() -> None:
    with pytest.raises(ValueError, match="scale"):
        similarity_matrix(-1.0, np.eye(3), np.zeros(3))
    with pytest.raises(ValueError, match="matrix"):
        transform_points(np.eye(3), np.zeros(3))
    with pytest.raises(ValueError, match="determinant"):
        invert_similarity(np.diag([1.0, 1.0, -1.0, 1.0]))
    assert math.isfinite(similarity_parts(np.eye(4))[0])
