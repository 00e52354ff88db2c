"""Synthetic scenes: shapes, determinism, geometric consistency, occlusion-aware tracks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vggt_py.data.render import Lighting, Room, Sphere, World, cast_pixels, render_view
from vggt_py.data.synthetic import (
    SceneConfig,
    SyntheticScene,
    compute_tracks,
    generate_scene,
    look_at,
    sample_cameras,
    sample_layout,
)
from vggt_py.data.textures import Checker
from vggt_py.geometry.camera import unproject_depth

SMALL = {"num_frames": 3, "height": 40, "width": 56, "num_tracks": 64}


@pytest.fixture(scope="module")
def scene() -> SyntheticScene:
    return generate_scene(SceneConfig(**SMALL), seed=11)


def test_shapes_and_dtypes(scene: SyntheticScene) -> None:
    s, h, w, n = 3, 40, 56, 64
    expected = {
        "images": ((s, h, w, 3), np.uint8),
        "depths": ((s, h, w), np.float32),
        "intrinsics": ((s, 3, 3), np.float32),
        "extrinsics": ((s, 3, 4), np.float32),
        "world_points": ((s, h, w, 3), np.float32),
        "valid_masks": ((s, h, w), np.bool_),
        "tracks": ((s, n, 2), np.float32),
        "track_visibility": ((s, n), np.bool_),
    }
    for name, (shape, dtype) in expected.items():
        arr = getattr(scene, name)
        assert arr.shape == shape and arr.dtype == dtype, name
    assert (scene.num_frames, scene.height, scene.width, scene.num_tracks) == (s, h, w, n)
    assert scene.valid_masks.all()  # closed room: every ray hits something
    assert (scene.depths > 0).all()


def test_same_seed_is_bit_identical_and_seeds_differ(scene: SyntheticScene) -> None:
    again = generate_scene(SceneConfig(**SMALL), seed=11)
    other = generate_scene(SceneConfig(**SMALL), seed=12)
    for name in ("images", "depths", "intrinsics", "extrinsics", "world_points", "valid_masks", "tracks"):
        np.testing.assert_array_equal(getattr(scene, name), getattr(again, name), err_msg=name)
        assert not np.array_equal(getattr(scene, name), getattr(other, name)) or name == "valid_masks", name
    np.testing.assert_array_equal(scene.track_visibility, again.track_visibility)


def test_independent_streams(scene: SyntheticScene) -> None:
    fewer_tracks = generate_scene(SceneConfig(**{**SMALL, "num_tracks": 5}), seed=11)
    np.testing.assert_array_equal(fewer_tracks.images, scene.images)
    np.testing.assert_array_equal(fewer_tracks.extrinsics, scene.extrinsics)


def test_world_points_project_onto_their_pixels(scene: SyntheticScene) -> None:
    h, w = scene.height, scene.width
    v, u = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    for i in range(scene.num_frames):
        k = scene.intrinsics[i].astype(np.float64)
        e = scene.extrinsics[i].astype(np.float64)
        cam = scene.world_points[i].astype(np.float64) @ e[:, :3].T + e[:, 3]
        pix = cam @ k.T
        np.testing.assert_allclose(pix[..., 0] / pix[..., 2], u, atol=5e-3)
        np.testing.assert_allclose(pix[..., 1] / pix[..., 2], v, atol=5e-3)
        np.testing.assert_allclose(cam[..., 2], scene.depths[i], rtol=2e-5)


def test_depth_unprojects_to_world_points_with_shared_geometry(scene: SyntheticScene) -> None:
    """Cross-check conventions against vggt_py.geometry (docs/architecture.md, "Conventions")."""
    points = unproject_depth(
        torch.from_numpy(scene.depths).double(),
        torch.from_numpy(scene.intrinsics).double(),
        torch.from_numpy(scene.extrinsics).double(),
    ).numpy()
    np.testing.assert_allclose(points, scene.world_points, atol=2e-4, rtol=1e-5)


def test_cameras_are_inside_the_room_and_look_at_the_objects() -> None:
    config = SceneConfig(**SMALL)
    for seed in range(4):
        layout = sample_layout(config, np.random.default_rng(seed))
        _, extrinsics = sample_cameras(config, layout, np.random.default_rng(seed + 100))
        half_x, half_y = layout.room_half_size
        for e in extrinsics:
            center = -e[:, :3].T @ e[:, 3]
            assert abs(center[0]) < half_x - 0.5 and abs(center[1]) < half_y - 0.5
            assert 0.5 < center[2] < layout.room_height - 0.5
            assert np.hypot(center[0], center[1]) >= layout.camera_radius - 1e-9 > layout.object_radius
            forward = e[2, :3]  # camera z axis in world coordinates
            towards_axis = -np.array([center[0], center[1], 0.0]) / np.hypot(center[0], center[1])
            assert forward @ towards_axis > 0.5
        for prim in layout.world.primitives[1:]:
            assert np.hypot(prim.center[0], prim.center[1]) + prim.bounding_radius <= layout.object_radius + 1e-9


def test_intrinsics_follow_the_fov_range() -> None:
    config = SceneConfig(**{**SMALL, "fov_deg": (40.0, 45.0), "num_frames": 6})
    scene = generate_scene(config, seed=3)
    fx = scene.intrinsics[:, 0, 0].astype(np.float64)
    fov = np.degrees(2 * np.arctan(max(config.height, config.width) / 2 / fx))
    assert ((fov > 40.0 - 1e-3) & (fov < 45.0 + 1e-3)).all()
    assert len(np.unique(fx)) == 6
    np.testing.assert_array_equal(scene.intrinsics[:, 1, 1], scene.intrinsics[:, 0, 0])
    np.testing.assert_allclose(scene.intrinsics[:, 0, 2], config.width / 2, atol=0.02 * config.width + 1e-4)
    shared = generate_scene(SceneConfig(**{**SMALL, "shared_intrinsics": True}), seed=3)
    assert (shared.intrinsics == shared.intrinsics[:1]).all()


@pytest.mark.parametrize("trajectory", ["orbit", "forward", "random"])
def test_trajectories(trajectory: str) -> None:
    config = SceneConfig(**{**SMALL, "num_frames": 4, "trajectory": trajectory, "num_tracks": 16})
    scene = generate_scene(config, seed=5)
    centers = np.stack([-e[:, :3].T @ e[:, 3] for e in scene.extrinsics.astype(np.float64)])
    if trajectory == "forward":  # collinear in the floor plane, evenly spaced
        steps = np.diff(centers[:, :2], axis=0)
        np.testing.assert_allclose(np.linalg.norm(steps, axis=1), config.baseline / 3, rtol=1e-5)
        cross = steps[:, 0] * steps[0, 1] - steps[:, 1] * steps[0, 0]
        np.testing.assert_allclose(cross, 0.0, atol=1e-5)
    if trajectory == "orbit":  # on a circle around the room axis
        radii = np.hypot(centers[:, 0], centers[:, 1])
        np.testing.assert_allclose(radii, radii[0], rtol=1e-5)
    assert scene.track_visibility[0].all()


def test_difficulty_presets_and_open_ceiling() -> None:
    easy, hard = SceneConfig.preset("easy"), SceneConfig.preset("hard", num_frames=2)
    assert easy.num_objects < SceneConfig().num_objects < hard.num_objects
    assert hard.num_frames == 2 and hard.open_ceiling
    scene = generate_scene(SceneConfig.preset("hard", num_frames=2, height=48, width=48, num_tracks=8), seed=0)
    invalid = ~scene.valid_masks
    assert (scene.depths[invalid] == 0).all() and (scene.world_points[invalid] == 0).all()
    with pytest.raises(ValueError, match="difficulty"):
        SceneConfig.preset("extreme")


def test_tracks_start_at_queries_and_follow_the_surface(scene: SyntheticScene) -> None:
    assert scene.track_visibility[0].all()
    first = scene.tracks[0]
    assert (first[:, 0] >= 0).all() and (first[:, 0] <= scene.width - 1).all()
    layout = sample_layout(SceneConfig(**SMALL), np.random.default_rng(np.random.SeedSequence(11).spawn(3)[0]))
    k0, e0 = scene.intrinsics[0].astype(np.float64), scene.extrinsics[0].astype(np.float64)
    _, anchor, _ = cast_pixels(layout.world, k0, e0, first.astype(np.float64))
    for i in range(1, scene.num_frames):
        vis = scene.track_visibility[i]
        assert vis.any()
        ki, ei = scene.intrinsics[i].astype(np.float64), scene.extrinsics[i].astype(np.float64)
        _, seen, valid = cast_pixels(layout.world, ki, ei, scene.tracks[i][vis].astype(np.float64))
        assert valid.all()
        np.testing.assert_allclose(seen, anchor[vis], atol=2e-3)  # same surface point
        inside = scene.tracks[i][vis]
        assert (inside >= 0).all() and (inside[:, 0] <= scene.width - 1).all()
        assert (inside[:, 1] <= scene.height - 1).all()


def room_light() -> Lighting:
    up = np.array([0.0, 0.0, 1.0])
    return Lighting(0.5, up[None], np.array([0.5]), np.ones(3), np.ones(3), up)


def _occluder_world(with_occluder: bool) -> World:
    tex = Checker(0.3, np.array([[0.9, 0.8, 0.1], [0.1, 0.2, 0.7]]))
    room = Room(np.array([0.0, 0.0, 1.5]), np.eye(3), np.array([5.0, 5.0, 1.5]), (tex,) * 6)
    occluder = Sphere(np.array([1.5, 0.5, 1.5]), np.eye(3), 0.5, tex)  # on the line cam1 -> wall point
    return World((room, occluder) if with_occluder else (room,), room_light())


def test_tracks_are_invisible_only_where_occluded() -> None:
    h, w = 48, 64
    k = np.array([[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]])
    target = np.array([0.0, 5.0, 1.5])  # wall point seen at the centre of camera 0
    extrinsics = np.stack(
        [
            look_at(np.array([0.0, -4.0, 1.5]), target),  # clear view
            look_at(np.array([3.0, -4.0, 1.5]), target),  # the sphere sits between it and the wall point
            look_at(np.array([0.0, -4.0, 1.5]), np.array([0.0, -5.0, 1.5]), up=np.array([0, 0, 1.0])),  # away
        ]
    )
    intrinsics = np.stack([k] * 3)
    queries = np.array([[32.0, 24.0], [10.0, 30.0]])  # wall centre, and a point left of it
    occluded_world = _occluder_world(True)
    tracks, vis = compute_tracks(occluded_world, intrinsics, extrinsics, queries, h, w, 1e-3)
    np.testing.assert_allclose(tracks[0], queries, atol=1e-6)
    np.testing.assert_allclose(tracks[1, 0], [32.0, 24.0], atol=1e-6)  # projects to the centre of camera 1 ...
    assert vis[0].all()
    assert not vis[1, 0]  # ... but the sphere hides it
    assert vis[1, 1]  # the other point is seen by camera 1
    assert not vis[2].any()  # camera 2 looks the other way
    depth_c1 = render_view(occluded_world, k, extrinsics[1], h, w).depth
    assert depth_c1[24, 32] < np.linalg.norm(target - [3.0, -4.0, 1.5]) - 1.0  # occluder in front
    _, clear = compute_tracks(_occluder_world(False), intrinsics, extrinsics, queries, h, w, 1e-3)
    assert clear[1, 0]  # without the occluder the same point is visible
    room = _occluder_world(False).primitives[0]
    sky_world = World(
        (Room(room.center, room.rotation, room.half_extents, room.textures, open_top=True),), room_light()
    )
    up = look_at(np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.1, 9.0]))
    with pytest.raises(ValueError, match="valid surface"):  # queries on the sky
        compute_tracks(sky_world, intrinsics[:1], up[None], queries, h, w, 1e-3)


def test_visibility_agrees_with_the_depth_maps() -> None:
    """Visible tracks match the rendered depth at their (rounded) pixel; most invisible inside ones do not."""
    scene = generate_scene(SceneConfig(num_frames=4, height=60, width=80, num_tracks=300), seed=2)
    h, w = scene.height, scene.width
    for i in range(1, scene.num_frames):
        pix = scene.tracks[i].astype(np.float64)
        uu, vv = np.round(pix[:, 0]).astype(int), np.round(pix[:, 1]).astype(int)
        inside = (pix[:, 0] >= 0) & (pix[:, 0] <= w - 1) & (pix[:, 1] >= 0) & (pix[:, 1] <= h - 1)
        e = scene.extrinsics[i].astype(np.float64)
        vis = scene.track_visibility[i]
        assert not (vis & ~inside).any()
        rendered = scene.depths[i][np.clip(vv, 0, h - 1), np.clip(uu, 0, w - 1)]
        # projected depth of the tracked points, from the frame-0 surface point
        k0, e0 = scene.intrinsics[0].astype(np.float64), scene.extrinsics[0].astype(np.float64)
        q = scene.tracks[0].astype(np.float64)
        d0 = _bilinear(scene.depths[0], q)
        cam0 = np.stack([(q[:, 0] - k0[0, 2]) / k0[0, 0] * d0, (q[:, 1] - k0[1, 2]) / k0[1, 1] * d0, d0], axis=1)
        world_pts = (cam0 - e0[:, 3]) @ e0[:, :3]
        z = (world_pts @ e[:, :3].T + e[:, 3])[:, 2]
        agree = np.abs(rendered - z) <= 0.05 * z
        assert agree[vis].mean() > 0.85
        hidden = inside & ~vis
        if hidden.sum() >= 5:
            assert agree[hidden].mean() < 0.5


def _bilinear(image: np.ndarray, pix: np.ndarray) -> np.ndarray:
    x0 = np.clip(np.floor(pix[:, 0]).astype(int), 0, image.shape[1] - 2)
    y0 = np.clip(np.floor(pix[:, 1]).astype(int), 0, image.shape[0] - 2)
    fx, fy = pix[:, 0] - x0, pix[:, 1] - y0
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def test_no_tracks() -> None:
    scene = generate_scene(SceneConfig(**{**SMALL, "num_tracks": 0}), seed=0)
    assert scene.tracks.shape == (3, 0, 2) and scene.track_visibility.shape == (3, 0)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"num_frames": 0}, "num_frames"),
        ({"height": 1}, "height"),
        ({"fov_deg": (80.0, 60.0)}, "fov_deg"),
        ({"trajectory": "spiral"}, "trajectory"),
        ({"object_kinds": ("box", "torus")}, "object_kinds"),
        ({"num_tracks": -1}, "num_tracks"),
        ({"supersample": 0}, "supersample"),
        ({"floating_fraction": 1.5}, "floating_fraction"),
    ],
)
def test_bad_config(overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SceneConfig(**overrides)


def test_bad_seed_and_scene_shapes() -> None:
    with pytest.raises(ValueError, match="seed"):
        generate_scene(SceneConfig(**SMALL), seed=-1)
    with pytest.raises(ValueError, match="seed"):
        generate_scene(SceneConfig(**SMALL), seed=1.5)  # type: ignore[arg-type]
    s = SyntheticScene(
        images=np.zeros((2, 4, 5, 3), np.uint8),
        depths=np.zeros((2, 4, 5), np.float32),
        intrinsics=np.zeros((2, 3, 3), np.float32),
        extrinsics=np.zeros((2, 3, 4), np.float32),
        world_points=np.zeros((2, 4, 5, 3), np.float32),
        valid_masks=np.zeros((2, 4, 5), bool),
        tracks=np.zeros((2, 7, 2), np.float32),
        track_visibility=np.zeros((2, 7), bool),
    )
    with pytest.raises(ValueError, match="depths"):
        SyntheticScene(**{**s.__dict__, "depths": np.zeros((2, 5, 4), np.float32)})
    with pytest.raises(ValueError, match="track_visibility"):
        SyntheticScene(**{**s.__dict__, "track_visibility": np.zeros((2, 6), bool)})
