"""Procedural multi-view scenes with exact ground truth.

A scene is a textured room seen from inside (floor, four walls, ceiling or open sky) with
random boxes, spheres, capped cylinders and two-sided panels in its middle, lit by ambient
+ directional Lambertian light (no shadows). ``S`` cameras move on a trajectory around the
objects, always looking into the room, and every frame is rendered by exact ray casting
(:mod:`vggt_py.data.render`, numpy on the CPU).

Conventions (docs/architecture.md, Conventions): the world is the room frame (z up, floor at
z = 0, metres); cameras are OpenCV (x right, y down, z forward); ``extrinsics`` are
camera-from-world [R | t]; pixel (u, v) is the integer column / row at the pixel centre and
its ray passes through K^-1 [u, v, 1]; depth is camera-frame z. The world frame is *not*
normalised to camera 0 (training does that; docs/architecture.md, Training).

Ground-truth tracks: ``num_tracks`` query points are drawn uniformly at random (sub-pixel)
among the valid pixels of frame 0. Their surface points are projected into every frame.
A track is visible in frame i iff it is in front of the camera, its projection (u, v)
satisfies 0 <= u <= W-1 and 0 <= v <= H-1, and the ray cast through (u, v) meets a valid
surface at a depth within ``track_tolerance`` (relative) of the projected depth, i.e.
nothing occludes it. Because that ray is cast at the exact sub-pixel position, the test is
exact up to rounding and the tolerance can be tight. Positions of points behind a camera
are 0 (and invisible).

Everything is a function of ``(config, seed)``: two calls with the same arguments give
bit-identical arrays (on one machine; numpy's SIMD kernels for sin/atan/... may differ in
the last bit across CPU generations). The renderer uses no BLAS, so results do not depend on
thread counts. Independent random streams are used for the layout, the cameras and the
tracks, so e.g. changing ``num_tracks`` does not move the cameras or change the images.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vggt_py.data.render import (
    Box,
    Cylinder,
    Lighting,
    Panel,
    Primitive,
    Room,
    Sphere,
    World,
    cast_pixels,
    render_view,
    track_visibility,
)
from vggt_py.data.textures import random_texture

__all__ = [
    "DIFFICULTIES",
    "SceneConfig",
    "SceneLayout",
    "SyntheticScene",
    "compute_tracks",
    "generate_scene",
    "look_at",
    "render_frames",
    "sample_cameras",
    "sample_layout",
    "sample_queries",
]

Trajectory = Literal["orbit", "forward", "random"]
TRAJECTORIES: tuple[str, ...] = ("orbit", "forward", "random")
OBJECT_KINDS: tuple[str, ...] = ("box", "sphere", "cylinder", "panel")
DIFFICULTIES: tuple[str, ...] = ("easy", "default", "hard")


@dataclass(frozen=True)
class SceneConfig:
    """Knobs of :func:`generate_scene`.

    Attributes:
        num_frames: number of cameras S.
        height, width: image size in pixels.
        num_objects: objects placed in the room (fewer if they do not fit).
        object_kinds: kinds drawn from, among "box", "sphere", "cylinder", "panel".
        floating_fraction: probability that an object floats with a random 3-D rotation
            instead of resting upright on the floor.
        fov_deg: range of the field of view (degrees) across the *larger* image side.
        principal_point_jitter: principal point = (W/2, H/2) + U(-j, j) * (W, H).
        shared_intrinsics: one K for all frames instead of one per frame.
        trajectory: "orbit" (arc around the objects, looking at them), "forward" (straight
            line towards the objects, constant viewing direction) or "random" (unordered
            positions on an arc, each looking at a random point among the objects).
        baseline: length in metres of the camera path (arc or line) from the first to the
            last frame; for "random" the length of the arc positions are drawn from.
        rotation_jitter_deg: std-dev of a random per-frame rotation (each axis) applied to
            the look-at orientation; produces roll and off-centre views.
        texture_richness: 0 = flat colours; 1 = default patterns with fine detail; larger
            values give smaller features and stronger detail.
        open_ceiling: replace the ceiling by sky (invalid depth).
        num_tracks: ground-truth tracks sampled in frame 0 (0 disables them).
        track_tolerance: relative depth tolerance of the visibility test (see module doc).
        supersample: s > 1 renders colour as the mean of s x s rays per pixel.
    """

    num_frames: int = 8
    height: int = 224
    width: int = 224
    num_objects: int = 8
    object_kinds: tuple[str, ...] = OBJECT_KINDS
    floating_fraction: float = 0.25
    fov_deg: tuple[float, float] = (50.0, 75.0)
    principal_point_jitter: float = 0.02
    shared_intrinsics: bool = False
    trajectory: Trajectory = "orbit"
    baseline: float = 2.0
    rotation_jitter_deg: float = 3.0
    texture_richness: float = 1.0
    open_ceiling: bool = False
    num_tracks: int = 256
    track_tolerance: float = 1e-3
    supersample: int = 1

    def __post_init__(self) -> None:
        checks = [
            (self.num_frames >= 1, f"num_frames must be >= 1, got {self.num_frames}"),
            (self.height >= 2 and self.width >= 2, f"height and width must be >= 2, got {self.height}x{self.width}"),
            (self.num_objects >= 0, f"num_objects must be >= 0, got {self.num_objects}"),
            (
                len(self.object_kinds) > 0 and set(self.object_kinds) <= set(OBJECT_KINDS),
                f"object_kinds must be a non-empty subset of {OBJECT_KINDS}, got {self.object_kinds}",
            ),
            (
                0.0 <= self.floating_fraction <= 1.0,
                f"floating_fraction must be in [0, 1], got {self.floating_fraction}",
            ),
            (
                len(self.fov_deg) == 2 and 0.0 < self.fov_deg[0] <= self.fov_deg[-1] < 170.0,
                f"fov_deg must be (low, high) with 0 < low <= high < 170, got {self.fov_deg}",
            ),
            (
                0.0 <= self.principal_point_jitter <= 0.25,
                f"principal_point_jitter must be in [0, 0.25], got {self.principal_point_jitter}",
            ),
            (self.trajectory in TRAJECTORIES, f"trajectory must be one of {TRAJECTORIES}, got {self.trajectory!r}"),
            (self.baseline >= 0.0, f"baseline must be >= 0, got {self.baseline}"),
            (self.rotation_jitter_deg >= 0.0, f"rotation_jitter_deg must be >= 0, got {self.rotation_jitter_deg}"),
            (self.texture_richness >= 0.0, f"texture_richness must be >= 0, got {self.texture_richness}"),
            (self.num_tracks >= 0, f"num_tracks must be >= 0, got {self.num_tracks}"),
            (self.track_tolerance > 0.0, f"track_tolerance must be > 0, got {self.track_tolerance}"),
            (self.supersample >= 1, f"supersample must be >= 1, got {self.supersample}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"SceneConfig: {message}")

    @classmethod
    def preset(cls, difficulty: str = "default", **overrides: object) -> SceneConfig:
        """A config for ``difficulty`` in {"easy", "default", "hard"}, with field overrides.

        easy: 4 upright objects, shared intrinsics, narrow fov range, short orbit, little
        jitter, rich textures. hard: 14 objects (half floating), wide fov range, unordered
        wide-baseline views with strong rotation jitter, weaker textures, open ceiling.
        """
        presets: dict[str, dict[str, object]] = {
            "easy": {
                "num_objects": 4,
                "floating_fraction": 0.0,
                "fov_deg": (55.0, 65.0),
                "shared_intrinsics": True,
                "baseline": 1.2,
                "rotation_jitter_deg": 1.0,
                "texture_richness": 1.5,
            },
            "default": {},
            "hard": {
                "num_objects": 14,
                "floating_fraction": 0.5,
                "fov_deg": (35.0, 95.0),
                "principal_point_jitter": 0.05,
                "trajectory": "random",
                "baseline": 6.0,
                "rotation_jitter_deg": 10.0,
                "texture_richness": 0.6,
                "open_ceiling": True,
            },
        }
        if difficulty not in presets:
            raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
        return cls(**{**presets[difficulty], **overrides})  # type: ignore[arg-type]


@dataclass(eq=False)
class SyntheticScene:
    """A multi-view scene with ground truth (numpy arrays; S frames, N tracks).

    Attributes:
        images: [S,H,W,3] uint8 RGB.
        depths: [S,H,W] float32 camera-frame z, 0 where invalid.
        intrinsics: [S,3,3] float32 OpenCV K.
        extrinsics: [S,3,4] float32 camera-from-world [R | t].
        world_points: [S,H,W,3] float32, 0 where invalid.
        valid_masks: [S,H,W] bool.
        tracks: [S,N,2] float32 pixel positions (u, v) of the frame-0 queries in every frame.
        track_visibility: [S,N] bool.
    """

    images: np.ndarray
    depths: np.ndarray
    intrinsics: np.ndarray
    extrinsics: np.ndarray
    world_points: np.ndarray
    valid_masks: np.ndarray
    tracks: np.ndarray
    track_visibility: np.ndarray

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 [S,H,W,3], got {self.images.dtype} {self.images.shape}")
        s, h, w = self.images.shape[:3]
        n = self.tracks.shape[1] if self.tracks.ndim == 3 else -1
        expected = {
            "depths": (s, h, w),
            "intrinsics": (s, 3, 3),
            "extrinsics": (s, 3, 4),
            "world_points": (s, h, w, 3),
            "valid_masks": (s, h, w),
            "tracks": (s, n, 2),
            "track_visibility": (s, n),
        }
        for name, shape in expected.items():
            actual = getattr(self, name).shape
            if actual != shape:
                raise ValueError(f"SyntheticScene.{name}: expected shape {shape}, got {actual}")

    @property
    def num_frames(self) -> int:
        return int(self.images.shape[0])

    @property
    def height(self) -> int:
        return int(self.images.shape[1])

    @property
    def width(self) -> int:
        return int(self.images.shape[2])

    @property
    def num_tracks(self) -> int:
        return int(self.tracks.shape[1])


@dataclass(frozen=True, eq=False)
class SceneLayout:
    """A sampled world plus the geometry the camera sampler needs.

    Objects lie inside the vertical cylinder of radius ``object_radius`` around the room
    axis; cameras stay on or outside the circle of radius ``camera_radius`` (> object_radius),
    so they never start inside an object, and inside the room.
    """

    world: World
    object_radius: float
    camera_radius: float
    room_height: float
    room_half_size: tuple[float, float]


# ----------------------------------------------------------------------------- geometry


def _rotation_from_vector(v: np.ndarray) -> np.ndarray:
    """Rodrigues: rotation matrix [3,3] for the axis-angle vector v [3] (radians)."""
    angle = float(np.linalg.norm(v))
    if angle < 1e-15:
        return np.eye(3)
    k = v / angle
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle) * kx + (1.0 - np.cos(angle)) * (kx @ kx)


def _yaw(angle: float) -> np.ndarray:
    return _rotation_from_vector(np.array([0.0, 0.0, angle]))


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly random rotation (from a normalised Gaussian quaternion, x y z w)."""
    x, y, z, w = rng.normal(size=4)
    n = np.sqrt(x * x + y * y + z * z + w * w)
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """Camera-from-world [R | t] [3,4] (OpenCV axes) of a camera at ``eye`` looking at ``target``.

    ``up`` (default +z) is the world direction that appears upwards (towards -y in the image).
    """
    up = np.array([0.0, 0.0, 1.0]) if up is None else np.asarray(up, dtype=np.float64)
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    norm = np.linalg.norm(forward)
    right = np.cross(forward, up)
    if norm < 1e-12 or np.linalg.norm(right) < 1e-9 * norm:
        raise ValueError(f"look_at: target {target} must differ from eye {eye} and not lie along up {up}")
    forward /= norm
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    return np.concatenate([rotation, -(rotation @ eye)[:, None]], axis=1)


# ----------------------------------------------------------------------------- layout


def _sample_object(
    kind: str, rng: np.random.Generator, richness: float, floating: bool
) -> tuple[Primitive, float, float]:
    """An object centred at the origin: (primitive, bounding radius, resting centre height)."""
    rotation = _random_rotation(rng) if floating else _yaw(rng.uniform(0, 2 * np.pi))
    origin = np.zeros(3)
    if kind == "box":
        half = rng.uniform(0.12, 0.45, size=3)
        prim: Primitive = Box(origin, rotation, half, random_texture(rng, richness))
        rest = half[2]
    elif kind == "sphere":
        radius = float(rng.uniform(0.15, 0.5))
        prim = Sphere(origin, rotation, radius, random_texture(rng, richness))
        rest = radius
    elif kind == "cylinder":
        radius, half_height = float(rng.uniform(0.1, 0.35)), float(rng.uniform(0.15, 0.6))
        textures = (random_texture(rng, richness), random_texture(rng, richness))
        prim = Cylinder(origin, rotation, radius, half_height, textures)
        rest = half_height
    elif kind == "panel":
        half_size = (float(rng.uniform(0.2, 0.6)), float(rng.uniform(0.2, 0.6)))
        if not floating:  # stand upright: local z (the normal) horizontal, local y vertical
            rotation = rotation @ _rotation_from_vector(np.array([np.pi / 2, 0.0, 0.0]))
        textures = (random_texture(rng, richness), random_texture(rng, richness))
        prim = Panel(origin, rotation, half_size, textures)
        rest = half_size[1]
    else:
        raise ValueError(f"unknown object kind {kind!r}; expected one of {OBJECT_KINDS}")
    return prim, prim.bounding_radius, float(rest)


def _sample_lighting(rng: np.random.Generator) -> Lighting:
    azimuth = rng.uniform(0, 2 * np.pi)
    elevations = np.deg2rad([rng.uniform(35, 70), rng.uniform(15, 45)])
    azimuths = np.array([azimuth, azimuth + np.pi + rng.uniform(-0.5, 0.5)])
    directions = np.stack(
        [np.cos(elevations) * np.cos(azimuths), np.cos(elevations) * np.sin(azimuths), np.sin(elevations)], axis=1
    )
    zenith = np.array([0.25, 0.45, 0.85]) + rng.uniform(-0.1, 0.1, 3)
    return Lighting(
        ambient=float(rng.uniform(0.35, 0.5)),
        directions=directions,
        intensities=np.array([rng.uniform(0.4, 0.6), rng.uniform(0.1, 0.25)]),
        sky_zenith=np.clip(zenith, 0, 1),
        sky_horizon=np.clip(0.55 + 0.45 * zenith, 0, 1),
        up=np.array([0.0, 0.0, 1.0]),
    )


def sample_layout(config: SceneConfig, rng: np.random.Generator) -> SceneLayout:
    """Sample the room, objects and lights of a scene (see :class:`SceneLayout`)."""
    richness = config.texture_richness
    object_radius = float(rng.uniform(1.4, 2.0))
    camera_radius = object_radius + float(rng.uniform(1.0, 1.6))
    reach = camera_radius + (config.baseline if config.trajectory == "forward" else 0.0)
    half_x, half_y = (max(float(rng.uniform(3.8, 6.0)), reach + 0.8) for _ in range(2))
    height = float(rng.uniform(2.6, 3.6))
    room = Room(
        center=np.array([0.0, 0.0, height / 2]),
        rotation=np.eye(3),
        half_extents=np.array([half_x, half_y, height / 2]),
        textures=tuple(random_texture(rng, richness) for _ in range(6)),
        open_top=config.open_ceiling,
    )
    objects: list[Primitive] = []
    spheres: list[tuple[np.ndarray, float]] = []  # placed bounding spheres
    for _ in range(config.num_objects):
        kind = config.object_kinds[int(rng.integers(len(config.object_kinds)))]
        floating = bool(rng.random() < config.floating_fraction)
        prim, bound, rest = _sample_object(kind, rng, richness, floating)
        for _attempt in range(30):
            r = (object_radius - bound) * np.sqrt(rng.random())
            phi = rng.uniform(0, 2 * np.pi)
            z = rng.uniform(bound + 0.1, max(bound + 0.1, min(2.0, height - bound - 0.2))) if floating else rest
            center = np.array([r * np.cos(phi), r * np.sin(phi), z])
            if all(np.linalg.norm(center - c) >= bound + b for c, b in spheres):
                objects.append(dataclasses.replace(prim, center=center))
                spheres.append((center, bound))
                break
    return SceneLayout(
        world=World(primitives=(room, *objects), lighting=_sample_lighting(rng)),
        object_radius=object_radius,
        camera_radius=camera_radius,
        room_height=height,
        room_half_size=(half_x, half_y),
    )


# ----------------------------------------------------------------------------- cameras


def _sample_intrinsics(config: SceneConfig, rng: np.random.Generator) -> np.ndarray:
    """[S,3,3] pinhole K with square pixels and principal point near (W/2, H/2)."""
    count = 1 if config.shared_intrinsics else config.num_frames
    h, w = config.height, config.width
    fov = np.deg2rad(rng.uniform(config.fov_deg[0], config.fov_deg[1], size=count))
    focal = (max(h, w) / 2) / np.tan(fov / 2)
    jitter = config.principal_point_jitter
    cx = w / 2 + rng.uniform(-jitter, jitter, size=count) * w
    cy = h / 2 + rng.uniform(-jitter, jitter, size=count) * h
    K = np.zeros((count, 3, 3))
    K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = focal, focal, cx, cy, 1.0
    return np.broadcast_to(K, (config.num_frames, 3, 3)).copy()


def _camera_heights(layout: SceneLayout, rng: np.random.Generator) -> tuple[float, float]:
    """Camera heights at the start and end of the path."""
    top = min(2.0, layout.room_height - 0.6)
    return float(rng.uniform(0.9, top)), float(rng.uniform(0.9, top))


def _trajectory(config: SceneConfig, layout: SceneLayout, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Camera centres [S,3] and look-at targets [S,3]."""
    s = config.num_frames
    frac = np.linspace(0.0, 1.0, s) if s > 1 else np.zeros(1)
    r_cam, r_obj = layout.camera_radius, layout.object_radius
    h0, h1 = _camera_heights(layout, rng)
    heights = h0 + (h1 - h0) * frac
    theta0 = rng.uniform(0, 2 * np.pi)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    target_height = rng.uniform(0.3, 0.9)
    if config.trajectory == "orbit":
        theta = theta0 + sign * min(config.baseline / r_cam, 2 * np.pi) * frac
        eyes = np.stack([r_cam * np.cos(theta), r_cam * np.sin(theta), heights], axis=1)
        targets = np.array([0.0, 0.0, target_height]) + rng.normal(0, 0.25, size=(s, 3)) * [1, 1, 0.5]
    elif config.trajectory == "forward":
        # Dolly towards the objects along a line slightly off the radial direction, ending at
        # distance r_cam from the room axis; the view direction stays fixed.
        yaw = theta0 + np.pi + rng.uniform(-0.25, 0.25)
        motion = np.array([np.cos(yaw), np.sin(yaw), 0.0])
        end = r_cam * np.array([np.cos(theta0), np.sin(theta0), 0.0])
        eyes = end + ((frac - 1.0) * config.baseline)[:, None] * motion
        eyes[:, 2] = heights
        view = np.array([-np.cos(theta0), -np.sin(theta0), 0.0]) * r_cam
        targets = eyes + view + rng.normal(0, 0.15, size=3) * [1, 1, 0]
        targets[:, 2] = target_height
    else:  # "random"
        theta = theta0 + sign * min(config.baseline / r_cam, 2 * np.pi) * rng.random(s)
        heights = rng.uniform(min(h0, h1), max(h0, h1) + 1e-9, size=s)
        eyes = np.stack([r_cam * np.cos(theta), r_cam * np.sin(theta), heights], axis=1)
        r = 0.7 * r_obj * np.sqrt(rng.random(s))
        phi = rng.uniform(0, 2 * np.pi, s)
        targets = np.stack([r * np.cos(phi), r * np.sin(phi), rng.uniform(0.2, 1.0, s)], axis=1)
    return eyes, targets


def sample_cameras(config: SceneConfig, layout: SceneLayout, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sample intrinsics [S,3,3] and camera-from-world extrinsics [S,3,4] (float64)."""
    intrinsics = _sample_intrinsics(config, rng)
    eyes, targets = _trajectory(config, layout, rng)
    sigma = np.deg2rad(config.rotation_jitter_deg)
    extrinsics = np.zeros((config.num_frames, 3, 4))
    for i in range(config.num_frames):
        base = look_at(eyes[i], targets[i])
        jitter = _rotation_from_vector(rng.normal(0.0, sigma, size=3))
        rotation = jitter @ base[:, :3]
        extrinsics[i] = np.concatenate([rotation, -(rotation @ eyes[i])[:, None]], axis=1)
    return intrinsics, extrinsics


# ----------------------------------------------------------------------------- rendering


def render_frames(
    world: World, intrinsics: np.ndarray, extrinsics: np.ndarray, height: int, width: int, supersample: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Render S cameras: images [S,H,W,3] uint8, depths [S,H,W], world points [S,H,W,3], valid [S,H,W]."""
    if intrinsics.shape[0] != extrinsics.shape[0]:
        raise ValueError(f"got {intrinsics.shape[0]} intrinsics but {extrinsics.shape[0]} extrinsics")
    views = [render_view(world, k, e, height, width, supersample) for k, e in zip(intrinsics, extrinsics)]
    return (
        np.stack([v.image for v in views]),
        np.stack([v.depth for v in views]),
        np.stack([v.world_points for v in views]),
        np.stack([v.valid for v in views]),
    )


def sample_queries(
    world: World,
    K: np.ndarray,
    extrinsic: np.ndarray,
    height: int,
    width: int,
    count: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``count`` uniformly random sub-pixel positions [count,2] (u, v) on valid surfaces of a view."""
    found: list[np.ndarray] = []
    total = 0
    for _ in range(64):
        if total >= count:
            break
        candidates = rng.uniform([0.0, 0.0], [width - 1.0, height - 1.0], size=(2 * count + 16, 2))
        _, _, valid = cast_pixels(world, K, extrinsic, candidates)
        found.append(candidates[valid])
        total += int(valid.sum())
    if total < count:
        raise ValueError(f"could not find {count} valid query pixels in frame 0 (found {total})")
    return np.concatenate(found)[:count] if found else np.zeros((0, 2))


def compute_tracks(
    world: World,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    queries: np.ndarray,
    height: int,
    width: int,
    rel_tolerance: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth tracks of frame-0 queries [N,2]: positions [S,N,2] and visibility [S,N].

    Raises:
        ValueError: if a query does not hit a valid surface in frame 0.
    """
    _, points, valid = cast_pixels(world, intrinsics[0], extrinsics[0], queries)
    if not valid.all():
        raise ValueError(f"{int((~valid).sum())} queries do not lie on a valid surface in frame 0")
    tracks = np.zeros((extrinsics.shape[0], queries.shape[0], 2))
    visibility = np.zeros((extrinsics.shape[0], queries.shape[0]), dtype=bool)
    for i, (k, e) in enumerate(zip(intrinsics, extrinsics)):
        tracks[i], visibility[i] = track_visibility(world, k, e, points, height, width, rel_tolerance)
    return tracks, visibility


def generate_scene(config: SceneConfig, seed: int) -> SyntheticScene:
    """Generate one scene, deterministically from ``(config, seed)``.

    Args:
        config: scene knobs (:class:`SceneConfig`; see also :meth:`SceneConfig.preset`).
        seed: non-negative integer.

    Returns:
        A :class:`SyntheticScene`.
    """
    if not isinstance(config, SceneConfig):
        raise TypeError(f"config must be a SceneConfig, got {type(config).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    layout_seq, camera_seq, track_seq = np.random.SeedSequence(int(seed)).spawn(3)
    layout = sample_layout(config, np.random.default_rng(layout_seq))
    intrinsics, extrinsics = sample_cameras(config, layout, np.random.default_rng(camera_seq))
    # Render with the float32-rounded cameras that are stored, so the ground truth is exact for them.
    intrinsics = intrinsics.astype(np.float32).astype(np.float64)
    extrinsics = extrinsics.astype(np.float32).astype(np.float64)
    h, w = config.height, config.width
    images, depths, points, valid = render_frames(layout.world, intrinsics, extrinsics, h, w, config.supersample)
    if config.num_tracks > 0:
        rng = np.random.default_rng(track_seq)
        queries = sample_queries(layout.world, intrinsics[0], extrinsics[0], h, w, config.num_tracks, rng)
        tracks, visibility = compute_tracks(layout.world, intrinsics, extrinsics, queries, h, w, config.track_tolerance)
    else:
        tracks, visibility = np.zeros((config.num_frames, 0, 2)), np.zeros((config.num_frames, 0), dtype=bool)
    return SyntheticScene(
        images=images,
        depths=depths,
        intrinsics=intrinsics.astype(np.float32),
        extrinsics=extrinsics.astype(np.float32),
        world_points=points,
        valid_masks=valid,
        tracks=tracks.astype(np.float32),
        track_visibility=visibility,
    )
