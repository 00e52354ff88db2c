"""Tests for vggt_py.inference.export: GLB, PLY, NPZ and COLMAP files, read back and checked geometrically."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from vggt_py import VGGT, VGGTConfig
from vggt_py.inference.api import reconstruct
from vggt_py.inference.export import (
    FORMATS,
    OUTPUT_NAMES,
    export,
    export_colmap,
    export_glb,
    export_npz,
    export_ply,
    load_npz,
    scene_extent,
    select_points,
    to_colmap,
)
from vggt_py.inference.reconstruction import Reconstruction

from inference.export_scenes import ground_truth_reconstruction  # tests/ is on sys.path

pycolmap = pytest.importorskip("pycolmap")

TARGET = 140  # model img_size: small and fast, still several patches wide
LANDSCAPE, PORTRAIT = (200, 150), (150, 200)

# (orientation, mode) -> (resized (w, h), offset (x, y) of the resized image on the canvas, canvas (W, H)),
# worked out by hand from the documented preprocessing (round half to even on 14-pixel multiples).
LAYOUTS = {
    ("landscape", "crop"): ((140, 112), (0, 0), (140, 112)),  # 150 * 0.7 / 14 = 7.5 -> 8 patches
    ("landscape", "pad"): ((140, 112), (0, 14), (140, 140)),
    ("portrait", "crop"): ((140, 182), (0, -21), (140, 140)),  # 200 * 0.9333 / 14 = 13.3 -> 13; crop 21 rows
    ("portrait", "pad"): ((112, 140), (14, 0), (140, 140)),
}


def sane_tiny_model(img_size: int = TARGET) -> VGGT:
    """The tiny random model with a camera head tamed to plausible cameras (fov ~ 1 rad, near identity)."""
    torch.manual_seed(0)
    config = VGGTConfig.from_preset("tiny").replace(img_size=img_size)
    model = VGGT(config).eval()
    with torch.no_grad():
        last = model.camera_head.pose_branch.fc2
        last.weight.mul_(0.05)  # small per-frame variations around the bias
        target = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.2])
        last.bias.copy_(target / config.camera_head.iters)
    return model


def write_photos(folder: Path, size: tuple[int, int], count: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        paths.append(folder / f"frame_{i}.png")
        Image.fromarray(pixels).save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def model() -> VGGT:
    return sane_tiny_model()


@pytest.fixture(scope="module")
def recs(tmp_path_factory: pytest.TempPathFactory, model: VGGT) -> dict[tuple[str, str], Reconstruction]:
    root = tmp_path_factory.mktemp("photos")
    out = {}
    for orientation, size in (("landscape", LANDSCAPE), ("portrait", PORTRAIT)):
        paths = write_photos(root / orientation, size, count=2)
        for mode in ("crop", "pad"):
            out[orientation, mode] = reconstruct(paths, model, mode=mode, device="cpu")
    return out


def read_observations(model: pycolmap.Reconstruction) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per 3-D point: xyz [M, 3], image id [M], observed COLMAP pixel [M, 2]."""
    xyz, image_ids, observed = [], [], []
    for point in model.points3D.values():
        (element,) = point.track.elements
        xyz.append(point.xyz)
        image_ids.append(element.image_id)
        observed.append(model.image(element.image_id).points2D[element.point2D_idx].xy)
    return np.asarray(xyz), np.asarray(image_ids), np.asarray(observed)


def cam_from_world(image: pycolmap.Image) -> np.ndarray:
    pose = image.cam_from_world() if callable(image.cam_from_world) else image.cam_from_world
    return np.asarray(pose.matrix())


# ---------------------------------------------------------------------------------------------
# COLMAP


@pytest.mark.parametrize("mode", ["crop", "pad"])
@pytest.mark.parametrize("orientation", ["landscape", "portrait"])
def test_colmap_projects_points_onto_their_original_pixels(
    recs: dict, tmp_path: Path, orientation: str, mode: str
) -> None:
    rec = recs[orientation, mode]
    folder = export_colmap(rec, tmp_path / "sparse", max_points=1500)
    model = pycolmap.Reconstruction(str(folder))
    assert model.num_images() == 2 and model.num_cameras() == 2 and model.num_points3D() == 1500
    xyz, image_ids, observed = read_observations(model)
    width, height = LANDSCAPE if orientation == "landscape" else PORTRAIT
    for image_id in (1, 2):
        image = model.image(image_id)
        assert image.name == rec.names[image_id - 1]
        camera = model.camera(image.camera_id)
        assert (camera.width, camera.height) == (width, height)
        in_image = image_ids == image_id
        # K [R | t] of the read-back model
        pose, k = cam_from_world(image), np.asarray(camera.calibration_matrix())
        cam = xyz[in_image] @ pose[:, :3].T + pose[:, 3]
        pixels = cam @ k.T
        projected = pixels[:, :2] / pixels[:, 2:]
        assert np.abs(projected - observed[in_image]).max() < 0.5
        # pycolmap's own projection of a few points
        for point, obs in list(zip(xyz[in_image], observed[in_image], strict=True))[:20]:
            assert np.linalg.norm(image.project_point(point) - obs) < 0.5
        # observations cover the original image (COLMAP pixel edges [0, w] x [0, h])
        obs = observed[in_image]
        assert obs.min() >= 0 and (obs[:, 0] <= width).all() and (obs[:, 1] <= height).all()


@pytest.mark.parametrize(("orientation", "mode"), list(LAYOUTS))
def test_colmap_cameras_and_observations_known_values(recs: dict, tmp_path: Path, orientation: str, mode: str) -> None:
    """Intrinsics and 2-D points follow the hand-derived resize/crop/pad maps plus COLMAP's +0.5."""
    rec = recs[orientation, mode]
    (new_w, new_h), (ox, oy), canvas = LAYOUTS[orientation, mode]
    width, height = LANDSCAPE if orientation == "landscape" else PORTRAIT
    assert rec.image_size == (canvas[1], canvas[0])
    sx, sy = new_w / width, new_h / height
    model = to_colmap(rec, max_points=500)
    for i in range(len(rec)):
        k_model = rec.intrinsics[i].astype(np.float64)
        fx, fy, cx, cy = model.camera(i + 1).params
        assert fx == pytest.approx(k_model[0, 0] / sx, rel=1e-6)
        assert fy == pytest.approx(k_model[1, 1] / sy, rel=1e-6)
        assert cx == pytest.approx((k_model[0, 2] + 0.5 - ox) / sx, rel=1e-6)
        assert cy == pytest.approx((k_model[1, 2] + 0.5 - oy) / sy, rel=1e-6)
    _, _, observed = read_observations(model)
    model_x = observed[:, 0] * sx + ox - 0.5  # back to model pixel indices: must be integers
    model_y = observed[:, 1] * sy + oy - 0.5
    assert np.allclose(model_x, np.round(model_x), atol=1e-6)
    assert np.allclose(model_y, np.round(model_y), atol=1e-6)
    x0, y0, x1, y1 = rec.valid_regions[0]
    assert model_x.min() >= x0 - 1e-6 and model_x.max() <= x1 - 1 + 1e-6
    assert model_y.min() >= y0 - 1e-6 and model_y.max() <= y1 - 1 + 1e-6


def test_colmap_text_and_binary_agree_and_replace_each_other(recs: dict, tmp_path: Path) -> None:
    rec = recs["portrait", "crop"]
    folder = tmp_path / "sparse"
    export_colmap(rec, folder, binary=True, max_points=300)
    assert {p.name for p in folder.iterdir()} >= {"cameras.bin", "images.bin", "points3D.bin"}
    binary = pycolmap.Reconstruction(str(folder))
    export_colmap(rec, folder, binary=False, max_points=300)
    names = {p.name for p in folder.iterdir()}
    assert {"cameras.txt", "images.txt", "points3D.txt"} <= names
    assert not any(name.endswith(".bin") for name in names), "stale binary files must go"
    assert not any(name.startswith(".") for name in names), "no temporary files may stay behind"
    text = pycolmap.Reconstruction(str(folder))
    assert text.num_points3D() == binary.num_points3D() == 300
    for image_id in (1, 2):
        np.testing.assert_allclose(
            cam_from_world(text.image(image_id)), cam_from_world(binary.image(image_id)), atol=1e-6
        )
        np.testing.assert_allclose(text.camera(image_id).params, binary.camera(image_id).params, rtol=1e-6)


def test_colmap_colours_and_point_selection(recs: dict) -> None:
    rec = recs["landscape", "crop"]
    model = to_colmap(rec, max_points=None, conf_percentile=80)
    selection = select_points(rec, conf_percentile=80)
    assert model.num_points3D() == len(selection)
    xyz, image_ids, _ = read_observations(model)
    colours = np.asarray([p.color for p in model.points3D.values()])
    order = np.lexsort(xyz.T)
    expected = np.lexsort(selection.xyz.astype(np.float64).T)
    np.testing.assert_allclose(xyz[order], selection.xyz[expected], atol=1e-6)
    np.testing.assert_array_equal(colours[order], selection.rgb[expected])
    np.testing.assert_array_equal(np.sort(image_ids), np.sort(selection.frames + 1))


def test_colmap_shared_camera_and_simple_pinhole(recs: dict) -> None:
    rec = recs["landscape", "pad"]
    model = to_colmap(rec, max_points=10, camera_model="SIMPLE_PINHOLE", shared_camera=True)
    assert model.num_cameras() == 1
    assert {image.camera_id for image in model.images.values()} == {1}
    f, cx, cy = model.camera(1).params
    k = rec.intrinsics.astype(np.float64).mean(axis=0)
    (new_w, new_h), (ox, oy), _ = LAYOUTS["landscape", "pad"]
    sx, sy = new_w / LANDSCAPE[0], new_h / LANDSCAPE[1]
    assert f == pytest.approx(0.5 * (k[0, 0] / sx + k[1, 1] / sy), rel=1e-6)
    assert cx == pytest.approx((k[0, 2] + 0.5 - ox) / sx, rel=1e-6)
    assert cy == pytest.approx((k[1, 2] + 0.5 - oy) / sy, rel=1e-6)


def test_colmap_bad_inputs(recs: dict, tmp_path: Path) -> None:
    rec = recs["landscape", "crop"]
    with pytest.raises(ValueError, match="camera_model"):
        to_colmap(rec, camera_model="FISHEYE")
    model = to_colmap(dataclasses.replace(rec, names=["a.png", "a.png"]))  # same file given twice
    assert sorted(image.name for image in model.images.values()) == ["a.png", "a~2.png"]
    broken = rec.intrinsics.copy()
    broken[1, 0, 0] = np.inf  # a random model can predict fov = 0
    with pytest.raises(ValueError, match=r"frames \[1\] have degenerate intrinsics"):
        to_colmap(dataclasses.replace(rec, intrinsics=broken))
    mixed = rec.original_sizes.copy()
    mixed[1] = (300, 100)
    with pytest.raises(ValueError, match="one size"):
        to_colmap(dataclasses.replace(rec, original_sizes=mixed), shared_camera=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="folder"):
        export_colmap(rec, tmp_path / "file")
    with pytest.raises(ValueError, match="max_points"):
        to_colmap(rec, max_points=-1)


# ---------------------------------------------------------------------------------------------
# GLB and PLY


def test_glb_round_trip_points_and_camera_frustums(recs: dict, tmp_path: Path) -> None:
    rec = recs["portrait", "pad"]
    path = export_glb(rec, tmp_path / "scene.glb", conf_percentile=50, camera_scale=0.25, axes="opencv")
    scene = trimesh.load(path)
    selection = select_points(rec, conf_percentile=50)
    cloud = scene.geometry["points"]
    np.testing.assert_allclose(cloud.vertices, selection.xyz, atol=1e-6)
    np.testing.assert_array_equal(cloud.colors[:, :3], selection.rgb)
    for i in range(len(rec)):
        name = f"camera_{i:04d}"
        transform, geometry_name = scene.graph[name]
        # the node places the camera-frame frustum with world-from-camera = inverse(extrinsic)
        extrinsic = np.vstack([rec.extrinsics[i].astype(np.float64), [0, 0, 0, 1]])
        np.testing.assert_allclose(transform @ extrinsic, np.eye(4), atol=1e-5)
        local = scene.geometry[geometry_name].vertices
        world = local @ transform[:3, :3].T + transform[:3, 3]
        apex_distance = np.linalg.norm(world - rec.camera_centers[i], axis=1)
        assert apex_distance.min() < 1e-5  # the apex sits on the camera centre
        assert local[:, 2].max() == pytest.approx(0.25, rel=1e-5)  # base plane at camera_scale
        # base corners are back-projections of the model image corners
        k = rec.intrinsics[i].astype(np.float64)
        base = local[np.isclose(local[:, 2], 0.25)]
        u = base[:, 0] / 0.25 * k[0, 0] + k[0, 2]
        assert u.min() == pytest.approx(-0.5, abs=1e-3) and u.max() == pytest.approx(139.5, abs=1e-3)


def _frustum_directions(scene: trimesh.Scene, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(image-up, viewing) unit directions of a frustum node in the GLB world, from its geometry.

    Up: from the centre of the base's top edge to the tip of the up marker; viewing: from the apex to
    the centre of the base. Both are measured on the frustum's vertices, then rotated by the node transform.
    """
    transform, geometry_name = scene.graph[name]
    local = scene.geometry[geometry_name].vertices
    base = local[np.isclose(local[:, 2], local[:, 2].max()) & (np.linalg.norm(local, axis=1) > 0)]
    corners = base[np.isin(np.round(base[:, 0], 9), np.round([base[:, 0].min(), base[:, 0].max()], 9))]
    top = corners[np.isclose(corners[:, 1], corners[:, 1].min())]  # the two top corners (camera y down)
    tip = local[np.argmin(local[:, 1])]  # the marker sits above the top edge
    up, view = transform[:3, :3] @ (tip - top.mean(axis=0)), transform[:3, :3] @ corners.mean(axis=0)
    return up / np.linalg.norm(up), view / np.linalg.norm(view)


@pytest.mark.parametrize("axes", ["gltf", "opencv"])
def test_glb_up_axis_is_plus_y_by_default(tmp_path: Path, axes: str) -> None:
    """The frusta of a synthetic room (z up) seen by upright cameras: +Y up in glTF axes, -Y in OpenCV axes."""
    gt = ground_truth_reconstruction(frames=4)
    kwargs = {} if axes == "gltf" else {"axes": "opencv"}
    scene = trimesh.load(export_glb(gt.rec, tmp_path / "scene.glb", camera_scale=0.2, **kwargs))
    sign = 1.0 if axes == "gltf" else -1.0
    up0, view0 = _frustum_directions(scene, "camera_0000")  # frame 0 is the world frame
    np.testing.assert_allclose(up0, [0.0, sign, 0.0], atol=1e-6)
    # glTF: looks down -Z (the principal point is off-centre, so the frustum's axis is tilted by < 2 degrees)
    np.testing.assert_allclose(view0, [0.0, 0.0, -sign], atol=0.03)
    for i in range(len(gt.rec)):
        up, _ = _frustum_directions(scene, f"camera_{i:04d}")
        assert sign * up[1] > 0.8, (i, up)  # upright cameras (pitch < ~35 degrees)
    flip = np.array([1.0, -1.0, -1.0]) if axes == "gltf" else np.ones(3)  # 180 degrees about x, or nothing
    room_up = flip * gt.room_up  # the room's up direction in the GLB world
    assert sign * room_up[1] > 0.8 and np.argmax(np.abs(room_up)) == 1
    points = scene.geometry["points"].vertices
    np.testing.assert_allclose(points, select_points(gt.rec).xyz * flip, atol=1e-5)
    with pytest.raises(ValueError, match="axes must be one of"):
        export_glb(gt.rec, tmp_path / "bad.glb", axes="y-up")  # type: ignore[arg-type]


def test_glb_default_camera_size_follows_scene_extent(recs: dict, tmp_path: Path) -> None:
    rec = recs["landscape", "crop"]
    scene = trimesh.load(export_glb(rec, tmp_path / "scene.glb", max_points=400))
    assert len(scene.geometry["points"].vertices) == 400
    extent = scene_extent(rec, select_points(rec, max_points=400).xyz)
    assert extent > 0
    assert scene.geometry["camera_0000"].vertices[:, 2].max() == pytest.approx(0.05 * extent, rel=1e-5)
    no_cameras = trimesh.load(export_glb(rec, tmp_path / "points_only.glb", camera_scale=0))
    assert set(no_cameras.geometry) == {"points"}
    with pytest.raises(ValueError, match="camera_scale"):
        export_glb(rec, tmp_path / "bad.glb", camera_scale=-1.0)
    with pytest.raises(ValueError, match="nothing to export"):
        export_glb(rec, tmp_path / "empty.glb", conf_threshold=1e9, camera_scale=0)


def test_ply_is_binary_little_endian_with_colours(recs: dict, tmp_path: Path) -> None:
    rec = recs["landscape", "pad"]
    path = export_ply(rec, tmp_path / "points.ply", conf_threshold=float(np.median(rec.depth_conf)))
    header = path.read_bytes()[:200]
    assert header.startswith(b"ply\nformat binary_little_endian 1.0\n")
    cloud = trimesh.load(path)
    selection = select_points(rec, conf_threshold=float(np.median(rec.depth_conf)))
    assert 0 < len(selection) < rec.depth.size
    np.testing.assert_array_equal(cloud.vertices.astype(np.float32), selection.xyz)
    np.testing.assert_array_equal(cloud.colors[:, :3], selection.rgb)
    empty = export_ply(rec, tmp_path / "empty.ply", conf_threshold=1e9)
    assert b"element vertex 0\n" in empty.read_bytes()


# ---------------------------------------------------------------------------------------------
# Point selection


def test_select_points_excludes_padding_and_honours_mask(recs: dict) -> None:
    rec = recs["landscape", "pad"]  # 14 rows of white padding above and below
    everything = select_points(rec)
    assert len(everything) == int(rec.content_mask().sum())
    _, y0, _, y1 = rec.valid_regions[0]
    assert (y0, y1) == (14, 126)
    assert (everything.pixels[:, 1] >= y0).all() and (everything.pixels[:, 1] < y1).all()
    mask = np.zeros(rec.depth.shape, dtype=bool)
    mask[1, :, :10] = True
    masked = select_points(rec, mask=mask)
    assert (masked.frames == 1).all() and (masked.pixels[:, 0] < 10).all()
    assert len(masked) == (y1 - y0) * 10
    np.testing.assert_array_equal(masked.xyz, rec.points_from_depth[1, y0:y1, :10].reshape(-1, 3))
    with pytest.raises(ValueError, match="mask must be a bool array"):
        select_points(rec, mask=mask[0])
    first = select_points(rec, max_points=50, seed=3)
    again = select_points(rec, max_points=50, seed=3)
    other = select_points(rec, max_points=50, seed=4)
    np.testing.assert_array_equal(first.xyz, again.xyz)
    assert not np.array_equal(first.xyz, other.xyz)


def test_select_points_from_the_point_head(recs: dict) -> None:
    rec = recs["portrait", "crop"]
    selection = select_points(rec, source="head", max_points=100)
    frames, x, y = selection.frames, selection.pixels[:, 0], selection.pixels[:, 1]
    np.testing.assert_array_equal(selection.xyz, rec.points_from_head[frames, y, x])


# ---------------------------------------------------------------------------------------------
# NPZ and export()


def test_npz_round_trip_keeps_every_array(recs: dict, tmp_path: Path) -> None:
    rec = dataclasses.replace(
        recs["portrait", "pad"],
        query_points=np.array([[3.0, 4.0]], np.float32),
        tracks=np.zeros((2, 1, 2), np.float32),
        track_visibility=np.ones((2, 1), np.float32),
        track_confidence=np.full((2, 1), 0.5, np.float32),
    )
    back = load_npz(export_npz(rec, tmp_path / "rec.npz"))
    for field in dataclasses.fields(Reconstruction):
        original, loaded = getattr(rec, field.name), getattr(back, field.name)
        if isinstance(original, np.ndarray):
            assert loaded.dtype == original.dtype, field.name
            np.testing.assert_array_equal(loaded, original, err_msg=field.name)
        else:
            assert loaded == original, field.name
    assert back.names == ["frame_0.png", "frame_1.png"]
    np.testing.assert_array_equal(back.tracks_original(), rec.tracks_original())


def test_load_npz_rejects_other_files(tmp_path: Path) -> None:
    np.savez(tmp_path / "other.npz", depth=np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="missing arrays"):
        load_npz(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        load_npz(tmp_path / "missing.npz")


def test_export_writes_every_format_atomically(recs: dict, tmp_path: Path) -> None:
    rec = recs["landscape", "crop"]
    written = export(rec, tmp_path / "out", conf_percentile=50, max_points=1000, colmap_max_points=200)
    assert set(written) == set(FORMATS)
    for fmt, path in written.items():
        assert path == tmp_path / "out" / OUTPUT_NAMES[fmt] and path.exists()
    leftovers = [p for p in (tmp_path / "out").rglob(".*")]
    assert leftovers == []
    assert pycolmap.Reconstruction(str(written["colmap"])).num_points3D() == 200
    assert len(trimesh.load(written["ply"]).vertices) == 1000
    only = export(rec, tmp_path / "only", formats=["npz"])
    assert list(only) == ["npz"] and sorted(p.name for p in (tmp_path / "only").iterdir()) == [
        "reconstruction.npz",
        "vggt-export.json",
    ]


def test_export_bad_arguments(recs: dict, tmp_path: Path) -> None:
    rec = recs["landscape", "crop"]
    with pytest.raises(ValueError, match="formats"):
        export(rec, tmp_path, formats=["obj"])
    with pytest.raises(ValueError, match="formats"):
        export(rec, tmp_path, formats=[])
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="folder"):
        export(rec, tmp_path / "file")
    with pytest.raises(TypeError, match="Reconstruction"):
        export_npz({"depth": rec.depth}, tmp_path / "x.npz")  # type: ignore[arg-type]


def test_failed_write_leaves_no_partial_file(recs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = recs["landscape", "crop"]
    target = tmp_path / "rec.npz"
    target.write_bytes(b"previous")

    def half_write(fh: object, **arrays: object) -> None:
        fh.write(b"partial")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", half_write)
    with pytest.raises(OSError, match="disk full"):
        export_npz(rec, target)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["rec.npz"]


def test_subsample_of_a_full_selection_equals_a_direct_selection(recs: dict) -> None:
    rec = recs["portrait", "pad"]
    full = select_points(rec, conf_percentile=30)
    for max_points, seed in ((50, 0), (50, 3), (10**9, 0), (0, 1)):
        direct = select_points(rec, conf_percentile=30, max_points=max_points, seed=seed)
        sub = full.subsample(max_points, seed)
        for name in ("frames", "pixels", "xyz", "rgb"):
            np.testing.assert_array_equal(getattr(sub, name), getattr(direct, name))
    with pytest.raises(ValueError, match="max_points"):
        full.subsample(-1)


def test_export_selects_once_and_writes_the_same_files(
    recs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vggt_py.inference.export as export_module

    rec = recs["landscape", "pad"]
    filters = {"conf_percentile": 40, "source": "head"}
    glb = export_glb(rec, tmp_path / "single.glb", **filters, max_points=300)
    ply = export_ply(rec, tmp_path / "single.ply", **filters, max_points=300)
    colmap = export_colmap(rec, tmp_path / "single_sparse", **filters, max_points=120, seed=5)
    calls = []
    original = export_module.select_points
    monkeypatch.setattr(export_module, "select_points", lambda *a, **k: calls.append(1) or original(*a, **k))
    written = export(
        rec, tmp_path / "all", ["glb", "ply", "colmap"], **filters, max_points=300, colmap_max_points=120, seed=5
    )
    assert len(calls) == 1
    assert written["ply"].read_bytes() == ply.read_bytes()
    assert written["glb"].read_bytes() == glb.read_bytes()
    for name in ("cameras.bin", "images.bin", "points3D.bin"):
        assert (written["colmap"] / name).read_bytes() == (colmap / name).read_bytes()
