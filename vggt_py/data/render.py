"""Exact CPU ray casting of simple analytic scenes (numpy, vectorised over rays).

Conventions (shared with the rest of vggt_py, see ARCHITECTURE §5.1, §8, §9.1):

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
    "project_points",
    "render_view",
    "track_visibility",
]

T_MIN = 1e-6  # hits closer than this along the ray (in depth units) are ignored
SKY = -1  # texture index returned by ``surface`` for points that show the sky


def _no_nan_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b with b == 0 replaced by a tiny number (so slabs parallel to a ray give +-inf)."""
    b = np.where(np.abs(b) < 1e-300, 1e-300, b)
    return a / b


@dataclass(frozen=True, eq=False)
class _Posed:
    """Rigid placement: world point = rotation @ local point + center."""

    center: np.ndarray  # [3]
    rotation: np.ndarray  # [3,3] local -> world

    def to_local(self, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Origins [3] or [M,3] and directions [M,3] in the local frame."""
        return (origins - self.center) @ self.rotation, dirs @ self.rotation

    def normals_to_world(self, normals: np.ndarray) -> np.ndarray:
        return normals @ self.rotation.T


def _slabs(o: np.ndarray, d: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit ray parameters of the box |x_i| <= half_i (local frame), each [M]."""
    t1 = _no_nan_divide(-half - o, d)
    t2 = _no_nan_divide(half - o, d)
    t_near = np.minimum(t1, t2).max(axis=-1)
    t_far = np.maximum(t1, t2).min(axis=-1)
    return t_near, t_far


def _box_faces(p: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For local points p [K,3] on a box surface: axis [K], sign [K] (+-1) and uv [K,2]."""
    axis = np.argmax(np.abs(p) / half, axis=1)
    rows = np.arange(p.shape[0])
    sign = np.where(p[rows, axis] >= 0, 1.0, -1.0)
    uv = np.stack([p[rows, (axis + 1) % 3], p[rows, (axis + 2) % 3]], axis=1)
    return axis, sign, uv


@dataclass(frozen=True, eq=False)
class Room(_Posed):
    """An axis-aligned box seen from inside; textures per face (-x, +x, -y, +y, -z, +z).

    With ``open_top`` the +z face (the ceiling, for a z-up world) shows the sky instead.
    """

    half_extents: np.ndarray  # [3]
    textures: tuple[Texture, ...]  # 6 faces
    open_top: bool = False

    def intersect(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        o, d = self.to_local(origins, dirs)
        t_near, t_far = _slabs(o, d, self.half_extents)
        return np.where((t_far > T_MIN) & (t_near <= t_far), t_far, np.inf)

    def surface(self, points: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, _ = self.to_local(points, dirs)
        axis, sign, uv = _box_faces(p, self.half_extents)
        normals = np.zeros_like(p)
        normals[np.arange(p.shape[0]), axis] = -sign  # inward
        face = 2 * axis + (sign > 0)
        if self.open_top:
            face = np.where(face == 5, SKY, face)
        return self.normals_to_world(normals), uv, face

    @property
    def bounding_radius(self) -> float:
        return float(np.linalg.norm(self.half_extents))


@dataclass(frozen=True, eq=False)
class Box(_Posed):
    """A solid box with the given half extents (local frame), one texture on all faces."""

    half_extents: np.ndarray  # [3]
    texture: Texture

    @property
    def textures(self) -> tuple[Texture, ...]:
        return (self.texture,)

    def intersect(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        o, d = self.to_local(origins, dirs)
        t_near, t_far = _slabs(o, d, self.half_extents)
        return np.where((t_near > T_MIN) & (t_near <= t_far), t_near, np.inf)

    def surface(self, points: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, _ = self.to_local(points, dirs)
        axis, sign, uv = _box_faces(p, self.half_extents)
        normals = np.zeros_like(p)
        normals[np.arange(p.shape[0]), axis] = sign
        face = 2 * axis + (sign > 0)
        uv = uv + np.stack([face * 3.7, face * 1.9], axis=1)  # decorrelate the faces' patterns
        return self.normals_to_world(normals), uv, np.zeros(p.shape[0], dtype=np.int64)

    @property
    def bounding_radius(self) -> float:
        return float(np.linalg.norm(self.half_extents))


@dataclass(frozen=True, eq=False)
class Sphere(_Posed):
    """A solid sphere; ``rotation`` orients its texture (uv = arc lengths along longitude/latitude)."""

    radius: float
    texture: Texture

    @property
    def textures(self) -> tuple[Texture, ...]:
        return (self.texture,)

    def intersect(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        o, d = self.to_local(origins, dirs)
        a = np.einsum("...i,...i->...", d, d)
        b = np.einsum("...i,...i->...", o, d)
        c = np.einsum("...i,...i->...", o, o) - self.radius**2
        disc = b * b - a * c
        root = np.sqrt(np.maximum(disc, 0.0))
        t = (-b - root) / a
        return np.where((disc >= 0) & (t > T_MIN), t, np.inf)

    def surface(self, points: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, _ = self.to_local(points, dirs)
        n = p / np.linalg.norm(p, axis=1, keepdims=True)
        lon = np.arctan2(n[:, 1], n[:, 0])
        lat = np.arcsin(np.clip(n[:, 2], -1.0, 1.0))
        uv = self.radius * np.stack([lon, lat], axis=1)
        return self.normals_to_world(n), uv, np.zeros(p.shape[0], dtype=np.int64)

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
        o, d = self.to_local(origins, dirs)
        ox, oy, oz = o[..., 0], o[..., 1], o[..., 2]
        dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
        a = dx * dx + dy * dy
        b = ox * dx + oy * dy
        c = ox * ox + oy * oy - self.radius**2
        disc = b * b - a * c
        t_side = _no_nan_divide(-b - np.sqrt(np.maximum(disc, 0.0)), a)
        z_side = oz + t_side * dz
        side_ok = (disc >= 0) & (a > 0) & (t_side > T_MIN) & (np.abs(z_side) <= self.half_height)
        best = np.where(side_ok, t_side, np.inf)
        for cap in (-self.half_height, self.half_height):
            t_cap = _no_nan_divide(cap - oz, dz)
            x, y = ox + t_cap * dx, oy + t_cap * dy
            cap_ok = (t_cap > T_MIN) & (x * x + y * y <= self.radius**2)
            best = np.minimum(best, np.where(cap_ok, t_cap, np.inf))
        return best

    def surface(self, points: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, _ = self.to_local(points, dirs)
        radial = np.hypot(p[:, 0], p[:, 1])
        on_cap = np.abs(p[:, 2]) / self.half_height - 1.0 > radial / self.radius - 1.0
        normals = np.zeros_like(p)
        safe = np.maximum(radial, 1e-300)
        normals[:, 0] = np.where(on_cap, 0.0, p[:, 0] / safe)
        normals[:, 1] = np.where(on_cap, 0.0, p[:, 1] / safe)
        normals[:, 2] = np.where(on_cap, np.sign(p[:, 2]), 0.0)
        side_uv = np.stack([self.radius * np.arctan2(p[:, 1], p[:, 0]), p[:, 2]], axis=1)
        cap_uv = p[:, :2] + np.where(p[:, 2:3] > 0, 5.3, 0.0)
        uv = np.where(on_cap[:, None], cap_uv, side_uv)
        return self.normals_to_world(normals), uv, on_cap.astype(np.int64)

    @property
    def bounding_radius(self) -> float:
        return float(np.hypot(self.radius, self.half_height))


@dataclass(frozen=True, eq=False)
class Panel(_Posed):
    """A two-sided rectangle |x| <= a, |y| <= b in the local z = 0 plane; textures (front, back)."""

    half_size: tuple[float, float]
    textures: tuple[Texture, Texture]

    def intersect(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        o, d = self.to_local(origins, dirs)
        t = _no_nan_divide(-o[..., 2], d[..., 2])
        x = o[..., 0] + t * d[..., 0]
        y = o[..., 1] + t * d[..., 1]
        ok = (t > T_MIN) & (np.abs(x) <= self.half_size[0]) & (np.abs(y) <= self.half_size[1])
        return np.where(ok, t, np.inf)

    def surface(self, points: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, d = self.to_local(points, dirs)
        back = d[:, 2] > 0  # the ray travels along +z: it sees the -z (back) side
        normals = np.zeros_like(p)
        normals[:, 2] = np.where(back, -1.0, 1.0)
        return self.normals_to_world(normals), p[:, :2], back.astype(np.int64)

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
        """Irradiance [K] for unit normals [K,3]."""
        cos = np.clip(normals @ self.directions.T, 0.0, None)  # [K,L]
        return self.ambient + cos @ self.intensities

    def sky(self, dirs: np.ndarray) -> np.ndarray:
        """Sky colour [K,3] for ray directions [K,3] (any length)."""
        up = np.clip(dirs @ self.up / np.linalg.norm(dirs, axis=1), 0.0, 1.0)[:, None]
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


def _check_camera(K: np.ndarray, extrinsic: np.ndarray) -> None:
    if K.shape != (3, 3) or extrinsic.shape != (3, 4):
        raise ValueError(f"expected K [3,3] and extrinsic [3,4], got {K.shape} and {extrinsic.shape}")
    if not (K[0, 0] > 0 and K[1, 1] > 0 and np.allclose(K[2], [0, 0, 1])):
        raise ValueError(f"K must have positive focal lengths and last row [0, 0, 1], got\n{K}")


def camera_center(extrinsic: np.ndarray) -> np.ndarray:
    """Camera centre in world coordinates [3] from a camera-from-world [R|t] [3,4]."""
    return -extrinsic[:, :3].T @ extrinsic[:, 3]


def pixel_rays(K: np.ndarray, extrinsic: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World rays through pixel positions.

    Args:
        K: [3,3] intrinsics. extrinsic: [3,4] camera-from-world.
        pixels: [M,2] pixel coordinates (u, v) (integer = pixel centre).

    Returns:
        origin [3] and directions [M,3] scaled so that their camera-frame z is 1
        (so the ray parameter of a hit is its depth).
    """
    K = np.asarray(K, dtype=np.float64)
    extrinsic = np.asarray(extrinsic, dtype=np.float64)
    _check_camera(K, extrinsic)
    homo = np.concatenate([pixels, np.ones((pixels.shape[0], 1))], axis=1)  # [M,3]
    d_cam = homo @ np.linalg.inv(K).T
    d_cam = d_cam / d_cam[:, 2:3]
    return camera_center(extrinsic), d_cam @ extrinsic[:, :3]  # R^T d for each row


def project_points(K: np.ndarray, extrinsic: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project world points [N,3] -> pixel coordinates [N,2] and camera-frame depth [N].

    The pixels of points with depth <= 0 (behind the camera) are finite but meaningless.
    """
    cam = points @ extrinsic[:, :3].T + extrinsic[:, 3]
    z = cam[:, 2]
    safe = np.where(np.abs(z) < 1e-12, 1e-12, z)
    pix = (cam / safe[:, None]) @ K.T
    return pix[:, :2], z


# ----------------------------------------------------------------------------- casting


def cast_rays(world: World, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit of each ray: ray parameter t [M] (inf = miss) and primitive index [M] (-1 = miss).

    ``origins`` is [3] (shared) or [M,3]; ``dirs`` is [M,3] (need not be unit).
    """
    best_t = np.full(dirs.shape[0], np.inf)
    best_i = np.full(dirs.shape[0], -1, dtype=np.int64)
    for index, prim in enumerate(world.primitives):
        t = prim.intersect(origins, dirs)
        closer = t < best_t
        best_t = np.where(closer, t, best_t)
        best_i = np.where(closer, index, best_i)
    return best_t, best_i


def cast_pixels(
    world: World, K: np.ndarray, extrinsic: np.ndarray, pixels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray cast through sub-pixel positions [M,2] of one camera.

    Returns:
        depth [M] (camera-frame z, 0 where invalid), world points [M,3] (0 where invalid)
        and validity [M] (False for the sky / misses), all float64 / bool.
    """
    origin, dirs = pixel_rays(K, extrinsic, np.asarray(pixels, dtype=np.float64).reshape(-1, 2))
    t, index = cast_rays(world, origin, dirs)
    valid = _valid_hits(world, origin, dirs, t, index)
    depth = np.where(valid, t, 0.0)
    points = np.where(valid[:, None], origin + depth[:, None] * dirs, 0.0)
    return depth, points, valid


def _valid_hits(world: World, origin: np.ndarray, dirs: np.ndarray, t: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Which cast rays [M] hit a surface with valid depth (not the sky, not a miss)."""
    valid = np.zeros(dirs.shape[0], dtype=bool)
    for i, prim in enumerate(world.primitives):
        sel = np.flatnonzero(index == i)
        if sel.size:
            points = origin + t[sel, None] * dirs[sel]
            valid[sel] = prim.surface(points, dirs[sel])[2] != SKY
    return valid


def _shade(
    world: World, origins: np.ndarray, dirs: np.ndarray, t: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Colour [M,3] (float, [0,1]) and validity [M] of cast rays."""
    rgb = world.lighting.sky(dirs)
    valid = np.zeros(dirs.shape[0], dtype=bool)
    for i, prim in enumerate(world.primitives):
        sel = np.flatnonzero(index == i)
        if sel.size == 0:
            continue
        o = origins if origins.ndim == 1 else origins[sel]
        points = o + t[sel, None] * dirs[sel]
        normals, uv, tex = prim.surface(points, dirs[sel])
        albedo = np.zeros((sel.size, 3))
        for k, texture in enumerate(prim.textures):
            mask = tex == k
            if mask.any():
                albedo[mask] = texture(uv[mask])
        hit = tex != SKY
        rgb[sel[hit]] = albedo[hit] * world.lighting.shade(normals[hit])[:, None]
        valid[sel[hit]] = True
    return np.clip(rgb, 0.0, 1.0), valid


def _pixel_grid(height: int, width: int, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Row-major (v, u) grid of pixel coordinates (u, v) + offset, [H*W,2]."""
    v, u = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    return np.stack([u.ravel() + offset[0], v.ravel() + offset[1]], axis=1)


def render_view(
    world: World, K: np.ndarray, extrinsic: np.ndarray, height: int, width: int, supersample: int = 1
) -> RenderedView:
    """Render colour, depth, world points and validity for one camera.

    Depth and points come from the ray through each pixel centre. With ``supersample`` = s > 1
    the colour is the mean over an s x s grid of rays inside the pixel (anti-aliasing).
    """
    if height < 1 or width < 1 or supersample < 1:
        raise ValueError(f"height, width and supersample must be >= 1, got {height}, {width}, {supersample}")
    origin, dirs = pixel_rays(K, extrinsic, _pixel_grid(height, width))
    t, index = cast_rays(world, origin, dirs)
    if supersample == 1:
        rgb, valid = _shade(world, origin, dirs, t, index)
    else:
        valid = _valid_hits(world, origin, dirs, t, index)
        rgb = np.zeros_like(dirs)
        steps = (np.arange(supersample) + 0.5) / supersample - 0.5
        for dv in steps:
            for du in steps:
                _, sub_dirs = pixel_rays(K, extrinsic, _pixel_grid(height, width, (du, dv)))
                sub_t, sub_index = cast_rays(world, origin, sub_dirs)
                rgb += _shade(world, origin, sub_dirs, sub_t, sub_index)[0]
        rgb /= supersample**2
    depth = np.where(valid, t, 0.0)
    points = np.where(valid[:, None], origin + t[:, None] * dirs, 0.0)
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
    pix, z = project_points(K, extrinsic, points)
    in_front = z > T_MIN
    pix = np.where(in_front[:, None], pix, 0.0)
    inside = (
        in_front & (pix[:, 0] >= 0) & (pix[:, 0] <= width - 1) & (pix[:, 1] >= 0) & (pix[:, 1] <= height - 1)
    )
    visible = np.zeros(points.shape[0], dtype=bool)
    idx = np.flatnonzero(inside)
    if idx.size:
        depth, _, valid = cast_pixels(world, K, extrinsic, pix[idx])
        visible[idx] = valid & (np.abs(depth - z[idx]) <= rel_tolerance * z[idx])
    return pix, visible
