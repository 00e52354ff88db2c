"""Exact ray casting: analytic hits, camera conventions, shading, validity."""

from __future__ import annotations

import numpy as np
import pytest

from vggt_py.data.render import (
    Box,
    Cylinder,
    Lighting,
    Panel,
    Room,
    Sphere,
    World,
    camera_center,
    cast_pixels,
    cast_rays,
    pixel_rays,
    render_view,
)
from vggt_py.data.synthetic import look_at
from vggt_py.data.textures import Checker, Uniform
from vggt_py.geometry.camera import project_points_numpy

GRAY = Uniform(np.array([0.5, 0.5, 0.5]))
CHECK = Checker(0.25, np.array([[0.9, 0.2, 0.1], [0.1, 0.3, 0.8]]))
K = np.array([[60.0, 0.0, 31.5], [0.0, 60.0, 23.0], [0.0, 0.0, 1.0]])
H, W = 48, 64


def _lighting(ambient: float = 0.4) -> Lighting:
    return Lighting(
        ambient=ambient,
        directions=np.array([[0.0, 0.0, 1.0]]),
        intensities=np.array([0.5]),
        sky_zenith=np.array([0.2, 0.4, 0.9]),
        sky_horizon=np.array([0.8, 0.8, 0.9]),
        up=np.array([0.0, 0.0, 1.0]),
    )


def _room(open_top: bool = False, half: float = 10.0) -> Room:
    return Room(np.array([0.0, 0.0, half]), np.eye(3), np.full(3, half), (CHECK,) * 6, open_top=open_top)


def _pixel_dirs_camera() -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel rays (u, v) grid [H*W,2] and camera-frame directions K^-1 [u, v, 1] [H*W,3]."""
    v, u = np.meshgrid(np.arange(H, dtype=float), np.arange(W, dtype=float), indexing="ij")
    pix = np.stack([u.ravel(), v.ravel()], axis=1)
    dirs = np.concatenate([pix, np.ones((pix.shape[0], 1))], axis=1) @ np.linalg.inv(K).T
    return pix, dirs


def test_sphere_depth_matches_analytic_root() -> None:
    center = np.array([0.3, -0.2, 4.0])
    radius = 1.1
    # camera at (0, 0, 5) looking along +z with image-down = +y: camera frame = world - (0, 0, 5)
    world = World((_room(half=20.0), Sphere(center + [0, 0, 5.0], np.eye(3), radius, CHECK)), _lighting())
    extrinsic = look_at(np.array([0.0, 0.0, 5.0]), np.array([0.0, 0.0, 9.0]), up=np.array([0.0, -1.0, 0.0]))
    np.testing.assert_allclose(extrinsic[:, :3], np.eye(3), atol=1e-12)  # looking along +z, y down
    view = render_view(world, K, extrinsic, H, W)
    _, d = _pixel_dirs_camera()
    # |t d - c|^2 = r^2 with c in the camera frame
    a = (d * d).sum(1)
    b = d @ center
    disc = b * b - a * (center @ center - radius**2)
    hit = disc > 1e-6
    t = (b - np.sqrt(np.where(hit, disc, 0.0))) / a
    assert hit.sum() > 200
    np.testing.assert_allclose(view.depth.ravel()[hit], t[hit], rtol=1e-6)
    assert (view.depth.ravel()[~hit] > t[hit].max()).all()  # elsewhere: the far room walls


def test_floor_plane_depth_and_points() -> None:
    world = World((_room(),), _lighting())
    eye = np.array([0.5, -1.0, 2.0])
    extrinsic = look_at(eye, np.array([1.0, 3.0, 0.0]))
    view = render_view(world, K, extrinsic, H, W)
    assert view.valid.all()
    origin, dirs = pixel_rays(K, extrinsic, _pixel_dirs_camera()[0])
    np.testing.assert_allclose(origin, eye, atol=1e-12)
    on_floor = dirs[:, 2] < 0
    t_floor = -eye[2] / dirs[on_floor, 2]
    # the bottom rows see the floor z = 0 at the analytic depth
    bottom = np.zeros(H * W, dtype=bool)
    bottom[-W * 10 :] = True
    assert on_floor[bottom].all()
    floor_depth = view.depth.ravel()[on_floor]
    sel = t_floor < 9.0  # nearer than any wall
    np.testing.assert_allclose(floor_depth[sel], t_floor[sel], rtol=1e-6)
    pts = view.world_points.reshape(-1, 3)[on_floor][sel]
    np.testing.assert_allclose(pts[:, 2], 0.0, atol=1e-5)


def test_world_points_project_to_their_pixels() -> None:
    world = World((_room(), Box(np.array([1.0, 4.0, 1.0]), np.eye(3), np.full(3, 0.7), CHECK)), _lighting())
    extrinsic = look_at(np.array([-1.0, -2.0, 1.5]), np.array([1.0, 4.0, 1.0]))
    view = render_view(world, K, extrinsic, H, W)
    pix, z = project_points_numpy(view.world_points.reshape(-1, 3).astype(np.float64), K, extrinsic)
    expected, _ = _pixel_dirs_camera()
    np.testing.assert_allclose(pix, expected, atol=2e-3)
    np.testing.assert_allclose(z, view.depth.ravel(), rtol=1e-5)
    # independent projection: K (R X + t)
    cam = view.world_points.reshape(-1, 3) @ extrinsic[:, :3].T + extrinsic[:, 3]
    np.testing.assert_allclose(cam[:, 2], view.depth.ravel(), rtol=1e-5)


def test_box_cylinder_panel_hits() -> None:
    box = Box(np.array([0.0, 0.0, 0.0]), np.eye(3), np.array([1.0, 0.5, 0.25]), GRAY)
    cyl = Cylinder(np.array([0.0, 0.0, 0.0]), np.eye(3), 0.5, 1.0, (GRAY, CHECK))
    panel = Panel(np.array([0.0, 0.0, 0.0]), np.eye(3), (1.0, 2.0), (GRAY, CHECK))
    origins = np.array([[-5.0, 0.0, 0.0], [0.0, 0.0, 5.0], [0.0, 3.0, 0.0], [0.0, 0.0, 5.0]])
    dirs = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -2.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
    for prim, expected in [
        (box, [4.0, 2.375, 2.5, np.inf]),
        (cyl, [4.5, 2.0, 2.5, np.inf]),
        (panel, [np.inf, 2.5, np.inf, np.inf]),  # rays in the plane z = 0 or parallel to it miss
    ]:
        t, index = cast_rays(World((prim,), _lighting()), origins, dirs)
        np.testing.assert_allclose(t, expected)
        np.testing.assert_array_equal(index, np.where(np.isfinite(expected), 0, -1))


def test_rotated_box_uses_its_pose() -> None:
    angle = np.pi / 4
    rot = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    box = Box(np.array([2.0, 0.0, 0.0]), rot, np.array([1.0, 1.0, 1.0]), GRAY)
    t, _ = cast_rays(World((box,), _lighting()), np.zeros(3), np.array([[1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(t, [2.0 - np.sqrt(2.0)])  # hits the corner edge of the rotated box


def test_nearest_primitive_wins_and_shading() -> None:
    near = Sphere(np.array([0.0, 0.0, 3.0]), np.eye(3), 0.5, Uniform(np.array([1.0, 0.0, 0.0])))
    far = Panel(np.array([0.0, 0.0, 6.0]), np.eye(3), (3.0, 3.0), (GRAY, GRAY))
    world = World((far, near), _lighting(ambient=0.3))
    depth, points, valid = cast_pixels(world, K, np.concatenate([np.eye(3), np.zeros((3, 1))], 1), [[31.5, 23.0]])
    np.testing.assert_allclose(depth, [2.5])
    np.testing.assert_allclose(points, [[0.0, 0.0, 2.5]], atol=1e-12)
    assert valid.all()
    # colour at the centre pixel: albedo (1, 0, 0) x (ambient + 0.5 max(0, n . up)), n = (0, 0, -1)
    view = render_view(world, K, np.concatenate([np.eye(3), np.zeros((3, 1))], 1), H, W)
    np.testing.assert_array_equal(view.image[23, 31], [round(0.3 * 255), 0, 0])


def test_open_ceiling_is_invalid_sky() -> None:
    world = World((_room(open_top=True, half=3.0),), _lighting())
    up_view = look_at(np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.1, 10.0]))
    view = render_view(world, K, up_view, H, W)
    assert not view.valid.any()
    assert (view.depth == 0).all() and (view.world_points == 0).all()
    assert (view.image[..., 2] > view.image[..., 0]).all()  # blue sky
    closed = render_view(World((_room(half=3.0),), _lighting()), K, up_view, H, W)
    assert closed.valid.all()


def test_room_normals_point_inwards() -> None:
    room = _room(half=2.0)
    points = np.array([[0.0, 0.0, 0.0], [2.0, 0.5, 1.0], [0.0, -2.0, 3.0]]).T
    normals, _, face = room.surface(points, np.ones_like(points))
    np.testing.assert_allclose(normals.T, [[0, 0, 1], [-1, 0, 0], [0, 1, 0]], atol=1e-12)
    np.testing.assert_array_equal(face, [4, 1, 2])


def test_supersampling_keeps_geometry() -> None:
    world = World((_room(), Sphere(np.array([0.0, 3.0, 1.0]), np.eye(3), 0.8, CHECK)), _lighting())
    extrinsic = look_at(np.array([0.0, -1.0, 1.2]), np.array([0.0, 3.0, 1.0]))
    one = render_view(world, K, extrinsic, H, W)
    four = render_view(world, K, extrinsic, H, W, supersample=2)
    np.testing.assert_array_equal(one.depth, four.depth)
    diff = np.abs(one.image.astype(int) - four.image.astype(int))
    assert diff.max() > 0 and diff.mean() < 25


def test_camera_helpers_and_bad_input() -> None:
    extrinsic = look_at(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 0.0]))
    np.testing.assert_allclose(camera_center(extrinsic), [1.0, 2.0, 3.0], atol=1e-12)
    np.testing.assert_allclose(extrinsic[:, :3] @ extrinsic[:, :3].T, np.eye(3), atol=1e-12)
    with pytest.raises(ValueError, match="K"):
        render_view(World((_room(),), _lighting()), np.eye(2), extrinsic, H, W)
    with pytest.raises(ValueError, match="last row"):
        pixel_rays(np.diag([1.0, 1.0, 2.0]), extrinsic, np.zeros((1, 2)))
    with pytest.raises(ValueError, match="supersample"):
        render_view(World((_room(),), _lighting()), K, extrinsic, H, W, supersample=0)
    with pytest.raises(ValueError, match="dirs"):
        cast_rays(World((_room(),), _lighting()), np.zeros(3), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="target"):
        look_at(np.zeros(3), np.array([0.0, 0.0, 1.0]))
