"""Exact CPU ray casting of simple analytic scenes (numpy, vectorised over rays).

Conventions (shared with the rest of vggt_py, see docs/architecture.md, Conventions):

* Cameras are OpenCV pinhole cameras: x right, y down, z forward. ``extrinsic`` is the
  camera-from-world matrix [R | t] (3x4): X_cam = R X_world + t.
* ``K`` is 3x3 with zero skew. Pixel (u, v) is the integer column / row index at the
  *centre* of the pixel: the ray of pixel (u, v) passes through K^-1 [u, v, 1].
* Rays are parameterised with camera-frame z = 1, so the ray parameter of a hit *is* its
  depth (camera-frame z).

A :class:`World` holds primitives (a :class:`Room` seen from inside plus closed objects:
:class:`Box`, :class:`Sphere`, :class:`Cylinder`, two-sided :class:`Panel`) and a
Lambertian :class:`Lighting` (ambient + directional lights, no shadows). The open ceiling
of a room and rays that hit nothing show a sky gradient and have no valid depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vggt_py.data.textures import Texture
from vggt_py.geometry.camera import project_points_numpy

__all__ = [
    "Box",
    "Cylinder",
    "Lighting",
    "Panel",
    "Primitive",
    "RenderedView",
    "Room",
    "Sphere",
    "World",
    "camera_center",
    "cast_pixels",
    "cast_rays",
    "pixel_rays",
    "render_view",
    "track_visibility",
]

T_MIN = 1e-6  # hits closer than this along the ray (in depth units) are ignored
SKY = -1  # texture index returned by ``surface`` for points that show the sky
CHUNK = 32768  # rays traced per batch; keeps the working set in cache

# Internally vectors are stored component-first, [3] or [3,M] ("structure of arrays"), and
# 3x3 products are written out per component: no BLAS call on ray batches, so results do not
# depend on the BLAS library or its thread count and no BLAS threads compete with data loaders.


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot product of component-first vectors ([3] or [3,M])."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _mul(m: np.ndarray, x: np.ndarray) -> np.ndarray:
    """m @ x for a 3x3 matrix and component-first x ([3] or [3,M])."""
    return np.stack([m[j, 0] * x[0] + m[j, 1] * x[1] + m[j, 2] * x[2] for j in range(3)])


def _mul_t(m: np.ndarray, x: np.ndarray) -> np.ndarray:
    """m.T @ x for a 3x3 matrix and component-first x ([3] or [3,M])."""
    return np.stack([m[0, j] * x[0] + m[1, j] * x[1] + m[2, j] * x[2] for j in range(3)])


def _col(v: np.ndarray, ndim: int) -> np.ndarray:
    """A [3] vector shaped to broadcast against component-first arrays of ``ndim`` dims."""
    return v if ndim == 1 else v[:, None]


def _safe(b: np.ndarray) -> np.ndarray:
    """b with (near-)zeros replaced by a tiny positive number, so that a / b never gives NaN."""
    return np.where(np.abs(b) < 1e-30, 1e-30, b)


@dataclass(frozen=True, eq=False)
class _Posed:
    """Rigid placement: world point = rotation @ local point + center."""

    center: np.ndarray  # [3]
    rotation: np.ndarray  # [3,3] local -> world

    def to_local(self, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Origins [3] or [3,M] and directions [3,M] in the local frame."""
        return _mul_t(self.rotation, origins - _col(self.center, origins.ndim)), _mul_t(self.rotation, dirs)

    def normals_to_world(self, normals: np.ndarray) -> np.ndarray:
        return _mul(self.rotation, normals)


def _slabs(o: np.ndarray, d: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit ray parameters [M] of the box |x_k| <= half_k (local frame)."""
    t_near = np.full(d.shape[1], -np.inf)
    t_far = np.full(d.shape[1], np.inf)
    for k in range(3):
        inv = 1.0 / _safe(d[k])
        t1 = (-half[k] - o[k]) * inv
        t2 = (half[k] - o[k]) * inv
        t_near = np.maximum(t_near, np.minimum(t1, t2))
        t_far = np.minimum(t_far, np.maximum(t1, t2))
    return t_near, t_far


def _box_faces(p: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For local points p [3,K] on a box surface: axis [K], sign [K] (+-1) and uv [2,K]."""
    axis = np.argmax(np.abs(p) / half[:, None], axis=0)
    cols = np.arange(p.shape[1])
    sign = np.where(p[axis, cols] >= 0, 1.0, -1.0)
    uv = np.stack([p[(axis + 1) % 3, cols], p[(axis + 2) % 3, cols]])
    return axis, sign, uv


def _axis_normals(axis: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Unit normals [3,K] along ``axis`` with ``sign``."""
    normals = np.zeros((3, axis.shape[0]))
    normals[axis, np.arange(axis.shape[0])] = sign
    return normals


@dataclass(frozen=True, eq=False)
class Room(_Posed):
    """A box seen from inside; textures per face (-x, +x, -y, +y, -z, +z) in local axes.

    With ``open_top`` the +z face (the ceiling, for a z-up room) shows the sky instead.
    """

    half_extents: np.ndarray  # [3]
    textures: tuple[Texture, ...]  # 6 faces
    open_top: bool = False

    def intersect(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Ray parameter [M] of the first hit (inf = miss) for origins [3] / [3,M], dirs [3,M]."""
        o, d = self.to_local(origins, dirs)
        t_near, t_far = _slabs(o, d, self.half_extents)
        return np.where((t_far > T_MIN) & (t_near <= t_far), t_far, np.inf)

    def surface(self, points: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World normals [3,K], texture coordinates [2,K] and texture index [K] (SKY = -1)."""
        p, _ = self.to_local(points, dirs)
        axis, sign, uv = _box_faces(p, self.half_extents)
        face = 2 * axis + (sign > 0)
        if self.open_top:
            face = np.where(face == 5, SKY, face)
        return self.normals_to_world(_axis_normals(axis, -sign)), uv, face  # normals point inwards

    @property
    def bounding_radius(self) -> float:
        return float(np.linalg.norm(self.half_extents))


@dataclass(frozen=True, eq=False)
class Box(_Posed):
    """A solid box with the given half extents (local frame); one texture, shifted per face."""

    half_extents: np.ndarray  # [3]
    texture: Texture

    @property
    def textures(self) -> tuple[Texture, ...]:
        return (self.texture,)

    def intersect(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Ray parameter [M] of the first hit (inf = miss) for origins [3] / [3,M], dirs [3,M]."""
        o, d = self.to_local(origins, dirs)
        t_near, t_far = _slabs(o, d, self.half_extents)
        return np.where((t_near > T_MIN) & (t_near <= t_far), t_near, np.inf)

    def surface(self, points: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World normals [3,K], texture coordinates [2,K] and texture index [K]."""
        p, _ = self.to_local(points, dirs)
        axis, sign, uv = _box_faces(p, self.half_extents)
        face = 2 * axis + (sign > 0)
        uv = uv + np.stack([face * 3.7, face * 1.9])  # decorrelate the faces' patterns
        return self.normals_to_world(_axis_normals(axis, sign)), uv, np.zeros(face.shape, dtype=np.int64)

    @property
    def bounding_radius(self) -> float:
        return float(np.linalg.norm(self.half_extents))


@dataclass(frozen=True, eq=False)
class Sphere(_Posed):
    """A solid sphere; ``rotation`` orients its texture (uv = arc lengths along longitude, latitude)."""

    radius: float
    texture: Texture

    @property
    def textures(self) -> tuple[Texture, ...]:
        return (self.texture,)

    def intersect(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Ray parameter [M] of the first hit (inf = miss) for origins [3] / [3,M], dirs [3,M]."""
        o, d = self.to_local(origins, dirs)
        a = _dot(d, d)
        b = _dot(o, d)
        c = _dot(o, o) - self.radius**2
        disc = b * b - a * c
        t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
        return np.where((disc >= 0) & (t > T_MIN), t, np.inf)

    def surface(self, points: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World normals [3,K], texture coordinates [2,K] and texture index [K]."""
        p, _ = self.to_local(points, dirs)
        n = p / np.sqrt(_dot(p, p))
        uv = self.radius * np.stack([np.arctan2(n[1], n[0]), np.arcsin(np.clip(n[2], -1.0, 1.0))])
        return self.normals_to_world(n), uv, np.zeros(p.shape[1], dtype=np.int64)

    @property
    def bounding_radius(self) -> float:
        return float(self.radius)


@dataclass(frozen=True, eq=False)
class Cylinder(_Posed):
    """A solid capped cylinder around the local z axis; textures (side, caps)."""

    radius: float
    half_height: float
    textures: tuple[Texture, Texture]

    def intersect(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Ray parameter [M] of the first hit (inf = miss) for origins [3] / [3,M], dirs [3,M]."""
        o, d = self.to_local(origins, dirs)
        a = d[0] * d[0] + d[1] * d[1]
        b = o[0] * d[0] + o[1] * d[1]
        c = o[0] * o[0] + o[1] * o[1] - self.radius**2
        disc = b * b - a * c
        t_side = (-b - np.sqrt(np.maximum(disc, 0.0))) / _safe(a)
        side_ok = (disc >= 0) & (a > 0) & (t_side > T_MIN) & (np.abs(o[2] + t_side * d[2]) <= self.half_height)
        best = np.where(side_ok, t_side, np.inf)
        inv_dz = 1.0 / _safe(d[2])
        for cap in (-self.half_height, self.half_height):
            t_cap = (cap - o[2]) * inv_dz
            x, y = o[0] + t_cap * d[0], o[1] + t_cap * d[1]
            cap_ok = (t_cap > T_MIN) & (x * x + y * y <= self.radius**2)
            best = np.minimum(best, np.where(cap_ok, t_cap, np.inf))
        return best

    def surface(self, points: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World normals [3,K], texture coordinates [2,K] and texture index [K] (0 side, 1 caps)."""
        p, _ = self.to_local(points, dirs)
        radial = np.hypot(p[0], p[1])
        on_cap = np.abs(p[2]) / self.half_height - 1.0 > radial / self.radius - 1.0
        safe = np.maximum(radial, 1e-300)
        normals = np.stack(
            [
                np.where(on_cap, 0.0, p[0] / safe),
                np.where(on_cap, 0.0, p[1] / safe),
                np.where(on_cap, np.sign(p[2]), 0.0),
            ]
        )
        side_uv = np.stack([self.radius * np.arctan2(p[1], p[0]), p[2]])
        cap_uv = p[:2] + np.where(p[2] > 0, 5.3, 0.0)  # top and bottom caps differ
        uv = np.where(on_cap, cap_uv, side_uv)
        return self.normals_to_world(normals), uv, on_cap.astype(np.int64)

    @property
    def bounding_radius(self) -> float:
        return float(np.hypot(self.radius, self.half_height))


@dataclass(frozen=True, eq=False)
class Panel(_Posed):
    """A two-sided rectangle |x| <= a, |y| <= b in the local z = 0 plane; textures (front +z, back -z)."""

    half_size: tuple[float, float]
    textures: tuple[Texture, Texture]

    def intersect(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Ray parameter [M] of the first hit (inf = miss) for origins [3] / [3,M], dirs [3,M]."""
        o, d = self.to_local(origins, dirs)
        t = -o[2] / _safe(d[2])
        ok = (
            (t > T_MIN)
            & (np.abs(o[0] + t * d[0]) <= self.half_size[0])
            & (np.abs(o[1] + t * d[1]) <= self.half_size[1])
        )
        return np.where(ok, t, np.inf)

    def surface(self, points: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World normals [3,K] (facing the ray), texture coordinates [2,K] and texture index [K]."""
        p, d = self.to_local(points, dirs)
        back = d[2] > 0  # the ray travels along +z: it sees the back side
        normals = np.zeros_like(p)
        normals[2] = np.where(back, -1.0, 1.0)
        return self.normals_to_world(normals), p[:2], back.astype(np.int64)

    @property
    def bounding_radius(self) -> float:
        return float(np.hypot(*self.half_size))


Primitive = Room | Box | Sphere | Cylinder | Panel


@dataclass(frozen=True, eq=False)
class Lighting:
    """Ambient + directional Lambertian lighting (no shadows) and a sky gradient."""

    ambient: float
    directions: np.ndarray  # [L,3] unit vectors pointing towards the lights
    intensities: np.ndarray  # [L]
    sky_zenith: np.ndarray  # [3] RGB in [0,1]
    sky_horizon: np.ndarray  # [3]
    up: np.ndarray  # [3] world up, for the sky gradient

    def shade(self, normals: np.ndarray) -> np.ndarray:
        """Irradiance [K] for unit normals [3,K]."""
        total = np.full(normals.shape[1], float(self.ambient))
        for direction, intensity in zip(self.directions, self.intensities):
            total += intensity * np.maximum(_dot(normals, direction), 0.0)
        return total

    def sky(self, dirs: np.ndarray) -> np.ndarray:
        """Sky colour [K,3] for ray directions [3,K] (any length)."""
        up = np.clip(_dot(dirs, self.up) / np.sqrt(_dot(dirs, dirs)), 0.0, 1.0)[:, None]
        return self.sky_horizon * (1.0 - up) + self.sky_zenith * up


@dataclass(frozen=True, eq=False)
class World:
    """Primitives to ray cast (a room first, by convention) and their lighting."""

    primitives: tuple[Primitive, ...]
    lighting: Lighting


@dataclass(frozen=True, eq=False)
class RenderedView:
    """One rendered frame."""

    image: np.ndarray  # [H,W,3] uint8
    depth: np.ndarray  # [H,W] float32, camera-frame z, 0 where invalid
    world_points: np.ndarray  # [H,W,3] float32, 0 where invalid
    valid: np.ndarray  # [H,W] bool


# ----------------------------------------------------------------------------- cameras


def _check_camera(K: np.ndarray, extrinsic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    K = np.asarray(K, dtype=np.float64)
    extrinsic = np.asarray(extrinsic, dtype=np.float64)
    if K.shape != (3, 3) or extrinsic.shape != (3, 4):
        raise ValueError(f"expected K [3,3] and extrinsic [3,4], got {K.shape} and {extrinsic.shape}")
    if not (K[0, 0] > 0 and K[1, 1] > 0 and np.array_equal(K[2], [0.0, 0.0, 1.0])):
        raise ValueError(f"K must have positive focal lengths and last row [0, 0, 1], got\n{K}")
    return K, extrinsic


def camera_center(extrinsic: np.ndarray) -> np.ndarray:
    """Camera centre in world coordinates [3] from a camera-from-world [R|t] [3,4]."""
    extrinsic = np.asarray(extrinsic, dtype=np.float64)
    return -_mul_t(extrinsic[:, :3], extrinsic[:, 3])


def _camera_dirs(K: np.ndarray, extrinsic: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """World ray directions [3,M] through pixels (u, v), scaled to camera-frame z = 1."""
    k_inv = np.linalg.inv(K)
    x = k_inv[0, 0] * u + k_inv[0, 1] * v + k_inv[0, 2]
    y = k_inv[1, 0] * u + k_inv[1, 1] * v + k_inv[1, 2]
    return _mul_t(extrinsic[:, :3], np.stack([x, y, np.ones_like(x)]))


def pixel_rays(K: np.ndarray, extrinsic: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World rays through pixel positions.

    Args:
        K: [3,3] intrinsics (last row [0, 0, 1]). extrinsic: [3,4] camera-from-world.
        pixels: [M,2] pixel coordinates (u, v) (integer = pixel centre).

    Returns:
        origin [3] and directions [M,3] scaled so that their camera-frame z is 1
        (so the ray parameter of a hit is its depth).
    """
    K, extrinsic = _check_camera(K, extrinsic)
    pixels = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    return camera_center(extrinsic), _camera_dirs(K, extrinsic, pixels[:, 0], pixels[:, 1]).T


# ----------------------------------------------------------------------------- casting


def _cast(world: World, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit: t [M] (inf = miss) and primitive index [M] (-1 = miss); component-first inputs."""
    best_t = np.full(dirs.shape[1], np.inf)
    best_i = np.full(dirs.shape[1], -1, dtype=np.int64)
    for index, prim in enumerate(world.primitives):
        t = prim.intersect(origins, dirs)
        closer = t < best_t
        best_t = np.where(closer, t, best_t)
        best_i = np.where(closer, index, best_i)
    return best_t, best_i


def _trace(
    world: World, origins: np.ndarray, dirs: np.ndarray, shade: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Cast component-first rays: t [M], validity [M] and (if ``shade``) colour [M,3] in [0,1].

    Invalid rays (misses and the sky) have colour = sky gradient.
    """
    t, index = _cast(world, origins, dirs)
    valid = np.zeros(dirs.shape[1], dtype=bool)
    rgb = world.lighting.sky(dirs) if shade else None
    for i, prim in enumerate(world.primitives):
        sel = np.flatnonzero(index == i)
        if sel.size == 0:
            continue
        o = origins if origins.ndim == 1 else origins[:, sel]
        d = dirs[:, sel]
        points = _col(o, 2) + t[sel] * d if o.ndim == 1 else o + t[sel] * d
        normals, uv, tex = prim.surface(points, d)
        hit = tex != SKY
        valid[sel[hit]] = True
        if rgb is not None:
            albedo = np.zeros((sel.size, 3))
            for k, texture in enumerate(prim.textures):
                mask = tex == k
                if mask.any():
                    albedo[mask] = texture(uv[:, mask].T)
            rgb[sel[hit]] = albedo[hit] * world.lighting.shade(normals[:, hit])[:, None]
    return t, valid, None if rgb is None else np.clip(rgb, 0.0, 1.0)


def cast_rays(world: World, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit of each ray: ray parameter t [M] (inf = miss) and primitive index [M] (-1 = miss).

    ``origins`` is [3] (shared) or [M,3]; ``dirs`` is [M,3] (need not be unit length).
    """
    origins = np.asarray(origins, dtype=np.float64)
    dirs = np.asarray(dirs, dtype=np.float64)
    if dirs.ndim != 2 or dirs.shape[1] != 3 or origins.shape not in {(3,), dirs.shape}:
        raise ValueError(f"expected origins [3] or [M,3] and dirs [M,3], got {origins.shape} and {dirs.shape}")
    return _cast(world, np.ascontiguousarray(origins.T), np.ascontiguousarray(dirs.T))


def cast_pixels(
    world: World, K: np.ndarray, extrinsic: np.ndarray, pixels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray cast through sub-pixel positions [M,2] (u, v) of one camera.

    Returns:
        depth [M] (camera-frame z, 0 where invalid), world points [M,3] (0 where invalid)
        and validity [M] (False for the sky and misses).
    """
    K, extrinsic = _check_camera(K, extrinsic)
    pixels = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    origin = camera_center(extrinsic)
    dirs = _camera_dirs(K, extrinsic, pixels[:, 0], pixels[:, 1])
    t, valid, _ = _trace(world, origin, dirs, shade=False)
    depth = np.where(valid, t, 0.0)
    points = np.where(valid, origin[:, None] + depth * dirs, 0.0).T
    return depth, points, valid


def render_view(
    world: World, K: np.ndarray, extrinsic: np.ndarray, height: int, width: int, supersample: int = 1
) -> RenderedView:
    """Render colour, depth, world points and validity for one camera.

    Depth and points come from the ray through each pixel centre. With ``supersample`` = s > 1
    the colour is the mean over an s x s grid of rays inside the pixel (anti-aliasing).
    """
    if height < 1 or width < 1 or supersample < 1:
        raise ValueError(f"height, width and supersample must be >= 1, got {height}, {width}, {supersample}")
    K, extrinsic = _check_camera(K, extrinsic)
    origin = camera_center(extrinsic)
    count = height * width
    rows, cols = np.divmod(np.arange(count), width)
    u, v = cols.astype(np.float64), rows.astype(np.float64)
    rgb = np.empty((count, 3))
    depth = np.empty(count)
    points = np.empty((count, 3))
    valid = np.empty(count, dtype=bool)
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    for start in range(0, count, CHUNK):
        sl = slice(start, start + CHUNK)
        dirs = _camera_dirs(K, extrinsic, u[sl], v[sl])
        t, ok, colour = _trace(world, origin, dirs, shade=supersample == 1)
        if colour is None:
            colour = np.zeros((dirs.shape[1], 3))
            for dv in offsets:
                for du in offsets:
                    sub_dirs = _camera_dirs(K, extrinsic, u[sl] + du, v[sl] + dv)
                    colour += _trace(world, origin, sub_dirs, shade=True)[2]  # type: ignore[operator]
            colour /= supersample**2
        rgb[sl] = colour
        depth[sl] = np.where(ok, t, 0.0)  # also replaces inf (misses)
        points[sl] = np.where(ok, origin[:, None] + depth[sl] * dirs, 0.0).T
        valid[sl] = ok
    return RenderedView(
        image=np.round(rgb * 255.0).astype(np.uint8).reshape(height, width, 3),
        depth=depth.astype(np.float32).reshape(height, width),
        world_points=points.astype(np.float32).reshape(height, width, 3),
        valid=valid.reshape(height, width),
    )


def track_visibility(
    world: World,
    K: np.ndarray,
    extrinsic: np.ndarray,
    points: np.ndarray,
    height: int,
    width: int,
    rel_tolerance: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Project world points [N,3] into a camera and decide their visibility.

    A point is visible iff its camera-frame depth z > 0, its projection (u, v) lies inside
    the image (0 <= u <= W-1 and 0 <= v <= H-1, pixel-centre convention) and the ray cast
    through (u, v) -- the depth rendered at that exact sub-pixel position -- hits a valid
    surface at depth d with |d - z| <= rel_tolerance * z (nothing occludes it).

    Returns:
        pixels [N,2] float64 (0 where z <= 0) and visibility [N] bool.
    """
    K, extrinsic = _check_camera(K, extrinsic)
    pix, z = project_points_numpy(points, K, extrinsic)
    in_front = z > T_MIN
    pix = np.where(in_front[:, None], pix, 0.0)
    inside = in_front & (pix[:, 0] >= 0) & (pix[:, 0] <= width - 1) & (pix[:, 1] >= 0) & (pix[:, 1] <= height - 1)
    visible = np.zeros(pix.shape[0], dtype=bool)
    idx = np.flatnonzero(inside)
    if idx.size:
        depth, _, valid = cast_pixels(world, K, extrinsic, pix[idx])
        visible[idx] = valid & (np.abs(depth - z[idx]) <= rel_tolerance * z[idx])
    return pix, visible
