"""Procedural surface textures for the synthetic renderer.

A texture maps surface coordinates ``uv`` [M,2] (in scene units, i.e. metres along the
surface) to an RGB albedo [M,3] in [0, 1]. Everything is vectorised numpy and driven by a
stateless integer hash, so a texture is a small frozen value: evaluating it twice, in any
order or on any subset of points, gives bit-identical colours.

Kinds: :class:`Uniform`, :class:`Checker`, :class:`Stripes`, :class:`Noise` (fractal value
noise mapped through a colour palette), :class:`Blobs` (jittered-grid colour discs / cells),
and :class:`Detailed`, which modulates any texture by fine fractal noise so that even
large flat regions carry SIFT-matchable structure. :func:`random_texture` draws one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "Blobs",
    "Checker",
    "Detailed",
    "Noise",
    "Stripes",
    "Texture",
    "Uniform",
    "fractal_noise",
    "hash2d",
    "random_colors",
    "random_texture",
    "value_noise",
]


class Texture(Protocol):
    """A callable mapping surface coordinates [M,2] to RGB albedo [M,3] in [0, 1]."""

    def __call__(self, uv: np.ndarray) -> np.ndarray: ...


# ----------------------------------------------------------------------------- hashing


def _mix(h: np.ndarray) -> np.ndarray:
    """The "lowbias32" finaliser: a bijection on uint32 with good avalanche."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x7FEB352D)
    h = h ^ (h >> np.uint32(15))
    h = h * np.uint32(0x846CA68B)
    return h ^ (h >> np.uint32(16))


def hash2d(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """A well-mixed uint32 hash of integer lattice coordinates (int arrays of one shape)."""
    x = np.asarray(ix, dtype=np.int64).astype(np.uint32)
    y = np.asarray(iy, dtype=np.int64).astype(np.uint32)
    h = _mix(x + np.uint32((seed * 0x9E3779B9) & 0xFFFFFFFF))
    return _mix(h ^ y)


def _unit(h: np.ndarray) -> np.ndarray:
    """uint32 hash -> float64 in [0, 1)."""
    return h.astype(np.float64) * (1.0 / 4294967296.0)


def value_noise(p: np.ndarray, seed: int) -> np.ndarray:
    """Smooth lattice value noise in [0, 1] at points p [M,2] (lattice spacing 1)."""
    cell = np.floor(p)
    f = p - cell
    i = cell.astype(np.int64)
    w = f * f * (3.0 - 2.0 * f)  # smoothstep weights [M,2]
    ix, iy = i[:, 0], i[:, 1]
    v00 = _unit(hash2d(ix, iy, seed))
    v10 = _unit(hash2d(ix + 1, iy, seed))
    v01 = _unit(hash2d(ix, iy + 1, seed))
    v11 = _unit(hash2d(ix + 1, iy + 1, seed))
    wx, wy = w[:, 0], w[:, 1]
    top = v00 + (v10 - v00) * wx
    bottom = v01 + (v11 - v01) * wx
    return top + (bottom - top) * wy


def fractal_noise(p: np.ndarray, seed: int, octaves: int) -> np.ndarray:
    """Sum of ``octaves`` value-noise octaves (frequency x2, amplitude x0.5), in [0, 1]."""
    total = np.zeros(p.shape[0])
    norm = 0.0
    amplitude = 1.0
    for k in range(octaves):
        total += amplitude * value_noise(p * (2.0**k), seed + 1013 * k)
        norm += amplitude
        amplitude *= 0.5
    return total / norm


# ----------------------------------------------------------------------------- textures


def _frame(uv: np.ndarray, angle: float, scale: float, offset: tuple[float, float]) -> np.ndarray:
    """Rotate uv [M,2] by ``angle``, divide by ``scale`` and shift by ``offset``."""
    c, s = np.cos(angle), np.sin(angle)
    u = (c * uv[:, 0] - s * uv[:, 1]) / scale + offset[0]
    v = (s * uv[:, 0] + c * uv[:, 1]) / scale + offset[1]
    return np.stack([u, v], axis=1)


def _palette_lookup(colors: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Piecewise-linear colour ramp: colors [K,3], x [M] in [0,1] -> [M,3]."""
    k = colors.shape[0]
    pos = np.clip(x, 0.0, 1.0) * (k - 1)
    lo = np.minimum(np.floor(pos).astype(np.int64), k - 2)
    frac = (pos - lo)[:, None]
    return colors[lo] * (1.0 - frac) + colors[lo + 1] * frac


@dataclass(frozen=True, eq=False)
class Uniform:
    """One flat colour."""

    color: np.ndarray  # [3]

    def __call__(self, uv: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.color, (uv.shape[0], 3)).copy()


@dataclass(frozen=True, eq=False)
class Checker:
    """Two-colour checkerboard with square side ``size``, rotated by ``angle``."""

    size: float
    colors: np.ndarray  # [2,3]
    angle: float = 0.0
    offset: tuple[float, float] = (0.0, 0.0)

    def __call__(self, uv: np.ndarray) -> np.ndarray:
        q = np.floor(_frame(uv, self.angle, self.size, self.offset)).astype(np.int64)
        parity = (q[:, 0] + q[:, 1]) & 1
        return self.colors[parity]


@dataclass(frozen=True, eq=False)
class Stripes:
    """Parallel stripes of period ``period`` cycling through ``colors`` [K,3]."""

    period: float
    colors: np.ndarray  # [K,3]
    angle: float = 0.0
    offset: float = 0.0

    def __call__(self, uv: np.ndarray) -> np.ndarray:
        x = _frame(uv, self.angle, self.period, (self.offset, 0.0))[:, 0]
        k = self.colors.shape[0]
        band = np.floor(x * k).astype(np.int64) % k
        return self.colors[band]


@dataclass(frozen=True, eq=False)
class Noise:
    """Fractal value noise of feature size ``scale`` mapped through a colour ramp [K,3]."""

    scale: float
    colors: np.ndarray  # [K,3], K >= 2
    seed: int
    octaves: int = 4
    contrast: float = 1.6

    def __call__(self, uv: np.ndarray) -> np.ndarray:
        n = fractal_noise(_frame(uv, 0.0, self.scale, (0.0, 0.0)), self.seed, self.octaves)
        n = 0.5 + (n - 0.5) * self.contrast  # fractal sums cluster near 0.5: stretch
        return _palette_lookup(self.colors, n)


@dataclass(frozen=True, eq=False)
class Blobs:
    """Jittered-grid discs (Worley cells) with random colours on a background.

    Each lattice cell of side ``cell`` holds one disc of radius ``radius`` (in cell
    units, at most about 0.7 so a point only needs its 3x3 neighbourhood) at a random
    position, coloured from ``colors`` [K,3]; ``radius >= 0.75`` fills the plane with
    Voronoi cells instead.
    """

    cell: float
    colors: np.ndarray  # [K,3]
    background: np.ndarray  # [3]
    seed: int
    radius: float = 0.4

    def __call__(self, uv: np.ndarray) -> np.ndarray:
        p = _frame(uv, 0.0, self.cell, (0.0, 0.0))
        base = np.floor(p).astype(np.int64)
        best_d2 = np.full(p.shape[0], np.inf)
        best_h = np.zeros(p.shape[0], dtype=np.uint32)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                cx, cy = base[:, 0] + dx, base[:, 1] + dy
                h = hash2d(cx, cy, self.seed)  # low / high 16 bits place the cell's point
                jx = cx + 0.15 + 0.7 * ((h & np.uint32(0xFFFF)) * (1.0 / 65536.0))
                jy = cy + 0.15 + 0.7 * ((h >> np.uint32(16)) * (1.0 / 65536.0))
                d2 = (p[:, 0] - jx) ** 2 + (p[:, 1] - jy) ** 2
                closer = d2 < best_d2
                best_d2 = np.where(closer, d2, best_d2)
                best_h = np.where(closer, h, best_h)
        out = self.colors[_mix(best_h) % np.uint32(self.colors.shape[0])]
        if self.radius < 0.75:
            outside = best_d2 > self.radius**2
            out[outside] = self.background
        return out


@dataclass(frozen=True, eq=False)
class Detailed:
    """``base`` multiplied by (1 - amount + amount * 2 * fine fractal noise), clipped to [0, 1]."""

    base: Texture
    amount: float
    scale: float
    seed: int
    octaves: int = 3

    def __call__(self, uv: np.ndarray) -> np.ndarray:
        rgb = self.base(uv)
        n = fractal_noise(uv / self.scale, self.seed, self.octaves)
        gain = 1.0 - self.amount + 2.0 * self.amount * n
        return np.clip(rgb * gain[:, None], 0.0, 1.0)


# ----------------------------------------------------------------------------- sampling


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV (all in [0,1]) -> RGB [M,3]."""
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack(
        [
            np.stack([v, t, p], 1),
            np.stack([q, v, p], 1),
            np.stack([p, v, t], 1),
            np.stack([p, q, v], 1),
            np.stack([t, p, v], 1),
            np.stack([v, p, q], 1),
        ],
        axis=0,
    )  # [6,M,3]
    return table[i, np.arange(h.shape[0])]


def random_colors(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` varied colours [count,3] in [0,1], spread in hue and brightness."""
    hue = (rng.random() + np.arange(count) / count + rng.uniform(-0.08, 0.08, count)) % 1.0
    sat = rng.uniform(0.25, 0.95, count)
    val = rng.uniform(0.3, 1.0, count)
    order = rng.permutation(count)
    return _hsv_to_rgb(hue[order], sat, val)


# Feature sizes (scene units) of each pattern, before division by the richness factor.
_CHECKER_SIZE = (0.08, 0.35)
_STRIPE_PERIOD = (0.25, 0.8)
_NOISE_SCALE = (0.15, 0.8)
_BLOB_CELL = (0.08, 0.3)
_KINDS = ("checker", "stripes", "noise", "blobs", "blobs", "noise")


def random_texture(rng: np.random.Generator, richness: float = 1.0) -> Texture:
    """Draw a random texture.

    Args:
        rng: source of randomness (consumed deterministically).
        richness: 0 gives flat colours; 1 the default mix of patterns with fine noise
            detail; larger values give smaller features and stronger detail.

    Returns:
        A :class:`Texture`.
    """
    if richness < 0:
        raise ValueError(f"richness must be >= 0, got {richness}")
    if richness == 0:
        return Uniform(random_colors(rng, 1)[0])
    shrink = 0.5 + 0.5 * richness  # features get smaller with richness
    kind = _KINDS[int(rng.integers(len(_KINDS)))]
    seed = int(rng.integers(2**31))
    angle = float(rng.uniform(0, np.pi))

    def size(bounds: tuple[float, float]) -> float:
        return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1])))) / shrink

    base: Texture
    if kind == "checker":
        colors = random_colors(rng, 2)
        offset = (float(rng.random()), float(rng.random()))
        base = Checker(size(_CHECKER_SIZE), colors, angle, offset)
    elif kind == "stripes":
        colors = random_colors(rng, int(rng.integers(2, 5)))
        base = Stripes(size(_STRIPE_PERIOD), colors, angle, float(rng.random()))
    elif kind == "noise":
        colors = random_colors(rng, int(rng.integers(2, 5)))
        base = Noise(size(_NOISE_SCALE), colors, seed, octaves=int(rng.integers(3, 6)))
    else:
        colors = random_colors(rng, int(rng.integers(3, 8)))
        background = random_colors(rng, 1)[0]
        radius = float(rng.choice([0.3, 0.45, 0.6, 0.8]))
        base = Blobs(size(_BLOB_CELL), colors, background, seed, radius)
    amount = float(min(0.6, 0.3 * richness) * rng.uniform(0.6, 1.0))
    detail_scale = float(rng.uniform(0.06, 0.15)) / shrink
    return Detailed(base, amount, detail_scale, seed + 7, octaves=2)
