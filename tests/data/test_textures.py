"""Procedural textures: hashing, noise, pattern values, sampling."""

from __future__ import annotations

import numpy as np
import pytest

from vggt_py.data.textures import (
    Blobs,
    Checker,
    Detailed,
    Noise,
    Stripes,
    Uniform,
    fractal_noise,
    hash2d,
    random_colors,
    random_texture,
    value_noise,
)


def _grid(n: int = 64, extent: float = 2.0) -> np.ndarray:
    s = np.linspace(-extent, extent, n)
    u, v = np.meshgrid(s, s, indexing="ij")
    return np.stack([u.ravel(), v.ravel()], axis=1)


def test_hash_is_deterministic_seeded_and_well_spread() -> None:
    ix, iy = np.meshgrid(np.arange(-50, 50), np.arange(-50, 50), indexing="ij")
    a = hash2d(ix, iy, 7)
    assert a.dtype == np.uint32
    np.testing.assert_array_equal(a, hash2d(ix, iy, 7))
    assert (a != hash2d(ix, iy, 8)).mean() > 0.99
    assert len(np.unique(a)) > 0.99 * a.size  # distinct lattice points rarely collide
    top_bit = (a >> np.uint32(31)).mean()
    assert 0.45 < top_bit < 0.55


def test_value_noise_interpolates_lattice_values() -> None:
    p = _grid(50, 3.0)
    n = value_noise(p, 3)
    assert n.min() >= 0.0 and n.max() <= 1.0
    # at integer points the noise equals the hashed lattice value
    lattice = np.array([[0.0, 0.0], [2.0, -1.0], [-3.0, 1.0]])
    expected = hash2d(lattice[:, 0].astype(int), lattice[:, 1].astype(int), 3) / 2.0**32
    np.testing.assert_allclose(value_noise(lattice, 3), expected, atol=1e-12)
    # continuity: a tiny step changes the value a little
    step = value_noise(p + 1e-4, 3) - n
    assert np.abs(step).max() < 1e-3


def test_fractal_noise_range_and_octaves() -> None:
    p = _grid(40)
    one = fractal_noise(p, 1, 1)
    np.testing.assert_allclose(one, value_noise(p, 1))
    many = fractal_noise(p, 1, 5)
    assert many.min() >= 0.0 and many.max() <= 1.0
    assert not np.allclose(one, many)


def test_checker_known_values() -> None:
    colors = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    tex = Checker(size=0.5, colors=colors)
    uv = np.array([[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [-0.25, 0.25]])
    np.testing.assert_array_equal(tex(uv), colors[[0, 1, 0, 1]])


def test_stripes_cycle_through_colors() -> None:
    colors = np.eye(3)
    tex = Stripes(period=3.0, colors=colors)
    uv = np.array([[0.5, 9.0], [1.5, -2.0], [2.5, 0.0], [3.5, 0.0]])
    np.testing.assert_array_equal(tex(uv), colors[[0, 1, 2, 0]])


def test_blobs_use_palette_and_background() -> None:
    colors = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    background = np.array([0.0, 0.0, 0.0])
    rgb = Blobs(cell=0.3, colors=colors, background=background, seed=5, radius=0.3)(_grid())
    palette = {tuple(c) for c in np.vstack([colors, background[None]])}
    assert {tuple(c) for c in rgb} == palette  # every colour used, nothing else
    cells = Blobs(cell=0.3, colors=colors, background=background, seed=5, radius=0.9)(_grid())
    assert not (cells == background).all(axis=1).any()  # Voronoi mode covers the plane


def test_noise_and_detail_stay_in_range() -> None:
    colors = random_colors(np.random.default_rng(0), 3)
    base = Noise(scale=0.5, colors=colors, seed=2)
    rgb = Detailed(base, amount=0.6, scale=0.1, seed=3)(_grid())
    assert rgb.shape == (64 * 64, 3)
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    assert rgb.std() > 0.02


def test_random_texture_is_deterministic_and_rich() -> None:
    uv = _grid(96, 1.5)
    for seed in range(12):
        a = random_texture(np.random.default_rng(seed))(uv)
        b = random_texture(np.random.default_rng(seed))(uv)
        np.testing.assert_array_equal(a, b)
        assert a.min() >= 0.0 and a.max() <= 1.0
        gray = a.mean(axis=1).reshape(96, 96)
        # local contrast everywhere (not a flat colour): gradients in every quadrant
        gy, gx = np.gradient(gray)
        for quad in (gx[:48, :48], gx[48:, 48:], gy[:48, 48:], gy[48:, :48]):
            assert np.abs(quad).mean() > 1e-3


def test_random_texture_richness() -> None:
    uv = _grid(16)
    flat = random_texture(np.random.default_rng(0), richness=0.0)
    assert isinstance(flat, Uniform)
    assert np.ptp(flat(uv), axis=0).max() == 0.0
    with pytest.raises(ValueError, match="richness"):
        random_texture(np.random.default_rng(0), richness=-1.0)


def test_random_colors_shape_and_range() -> None:
    c = random_colors(np.random.default_rng(1), 5)
    assert c.shape == (5, 3)
    assert c.min() >= 0.0 and c.max() <= 1.0
