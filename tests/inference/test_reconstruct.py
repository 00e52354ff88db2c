"""End-to-end tests of reconstruct() + exports on real and generated photos (tiny random model, offline)."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from helpers import SHARED, sane_tiny_model
from vggt_py import VGGT, VGGTConfig
from vggt_py.inference.api import reconstruct
from vggt_py.inference.export import export, load_npz, to_colmap
from vggt_py.inference.images import ImageLoadError, load_images

pycolmap = pytest.importorskip("pycolmap")

EXAMPLES = SHARED / "examples"
ROOM = EXAMPLES / "room" / "images"
PAINTING = EXAMPLES / "single_oil_painting" / "images"
needs_examples = pytest.mark.skipif(not ROOM.is_dir() or not PAINTING.is_dir(), reason="example photos not present")
needs_av = pytest.mark.skipif(importlib.util.find_spec("av") is None, reason="PyAV (av) is not installed")




@pytest.fixture(scope="module")
def model() -> VGGT:
    return sane_tiny_model()


def write_photo(path: Path, size: tuple[int, int], seed: int = 0, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    if mode == "P":
        image = image.quantize(colors=16)
    image.save(path)
    return path


def max_reprojection_error(model: pycolmap.Reconstruction) -> float:
    """Largest per-axis distance between a point's projection (K [R | t]) and its observation."""
    worst = 0.0
    for point in model.points3D.values():
        (element,) = point.track.elements
        image = model.image(element.image_id)
        pose = image.cam_from_world() if callable(image.cam_from_world) else image.cam_from_world
        cam = np.asarray(pose.matrix()) @ np.append(point.xyz, 1.0)
        pixel = np.asarray(model.camera(image.camera_id).calibration_matrix()) @ cam
        observed = image.points2D[element.point2D_idx].xy
        worst = max(worst, float(np.abs(pixel[:2] / pixel[2] - observed).max()))
    return worst


# ---------------------------------------------------------------------------------------------
# Real photos


@needs_examples
def test_room_photos_end_to_end(model: VGGT, tmp_path: Path) -> None:
    rec = reconstruct(ROOM, model, device="cpu")
    names = sorted(p.name for p in ROOM.iterdir())
    assert rec.names == names and len(rec) == 8
    assert rec.image_size == (112, 140)  # 4:3 photos at img_size 140, crop mode
    assert rec.depth.shape == (8, 112, 140) and rec.points_from_depth.shape == (8, 112, 140, 3)
    assert np.isfinite(rec.extrinsics).all() and (rec.depth > 0).all()

    # dense COLMAP points (one observation each): exact projections check the pixel conventions
    written = export(rec, tmp_path, conf_percentile=50, max_points=5000, colmap_max_points=2000, colmap_points="dense")
    sparse = pycolmap.Reconstruction(str(written["colmap"]))
    assert sparse.num_images() == 8 and sparse.num_points3D() == 2000
    by_name = {image.name: image for image in sparse.images.values()}
    assert sorted(by_name) == names
    first = sparse.camera(by_name["no_overlap_1.png"].camera_id)
    other = sparse.camera(by_name["no_overlap_2.jpg"].camera_id)
    assert (first.width, first.height) == (512, 384) and (other.width, other.height) == (1280, 960)
    assert max_reprojection_error(sparse) < 0.5

    scene = trimesh.load(written["glb"])
    assert len(scene.geometry["points"].vertices) == 5000
    assert sum(name.startswith("camera_") for name in scene.geometry) == 8
    back = load_npz(written["npz"])
    np.testing.assert_array_equal(back.depth, rec.depth)
    assert back.names == names


@needs_examples
def test_palette_painting_with_the_default_tiny_preset(tmp_path: Path) -> None:
    """A single palette ("P") PNG through the standard 518-pixel tiny model, in pad mode."""
    torch.manual_seed(0)
    tiny = VGGT(VGGTConfig.from_preset("tiny")).eval()
    rec = reconstruct(PAINTING, tiny, mode="pad", device="cpu")
    assert len(rec) == 1 and rec.image_size == (518, 518)
    assert tuple(rec.original_sizes[0]) == (912, 596)
    x0, y0, x1, y1 = rec.valid_regions[0]
    assert (x0, x1) == (0, 518) and 0 < y0 < y1 < 518  # white bands above and below
    written = export(rec, tmp_path, formats=("glb", "ply", "npz"))
    assert set(written) == {"glb", "ply", "npz"}
    cloud = trimesh.load(written["ply"])
    assert len(cloud.vertices) == int(rec.content_mask().sum())


# ---------------------------------------------------------------------------------------------
# Generated photos


@pytest.mark.parametrize("mode", ["crop", "pad"])
def test_mixed_sizes_warn_and_still_project_exactly(model: VGGT, tmp_path: Path, mode: str) -> None:
    paths = [
        write_photo(tmp_path / "a_landscape.png", (200, 150), seed=1),
        write_photo(tmp_path / "b_portrait.png", (150, 200), seed=2),
        write_photo(tmp_path / "c_wide.png", (281, 97), seed=3),
    ]
    # crop gives 140x112, 140x140 and 140x56 frames, padded to one shape with a warning; pad makes all square
    expectation = pytest.warns(UserWarning, match="different shapes") if mode == "crop" else warnings.catch_warnings()
    with expectation:
        if mode == "pad":
            warnings.simplefilter("error")
        batch = load_images(paths, mode=mode, target_size=140)
    rec = reconstruct(batch, model, device="cpu")
    assert [tuple(s) for s in rec.original_sizes] == [(200, 150), (150, 200), (281, 97)]
    sparse = to_colmap(rec, max_points=3000)
    for i, (width, height) in enumerate(rec.original_sizes.tolist()):
        camera = sparse.camera(sparse.image(i + 1).camera_id)
        assert (camera.width, camera.height) == (width, height)
    assert max_reprojection_error(sparse) < 0.5
    # no point may come from the white padding
    content = rec.content_mask()
    assert not content.all()
    assert content.sum() == len(to_colmap(rec, max_points=None).points3D)


def test_folder_and_list_give_the_same_reconstruction(model: VGGT, tmp_path: Path) -> None:
    paths = [write_photo(tmp_path / f"img_{i}.jpg", (160, 120), seed=i) for i in range(3)]
    from_folder = reconstruct(tmp_path, model, device="cpu")
    from_list = reconstruct(paths, model, device="cpu")
    assert from_folder.names == from_list.names == ["img_0.jpg", "img_1.jpg", "img_2.jpg"]
    np.testing.assert_array_equal(from_folder.depth, from_list.depth)
    np.testing.assert_array_equal(from_folder.extrinsics, from_list.extrinsics)


def test_single_portrait_image_crop(model: VGGT, tmp_path: Path) -> None:
    path = write_photo(tmp_path / "portrait.png", (120, 180))
    rec = reconstruct(path, model, device="cpu")
    assert len(rec) == 1 and rec.image_size == (140, 140)  # width 140, height 210 cropped to 140
    sparse = to_colmap(rec, max_points=500)
    camera = sparse.camera(1)
    assert (camera.width, camera.height) == (120, 180)
    assert max_reprojection_error(sparse) < 0.5
    ys = np.array([point.xy[1] for point in sparse.image(1).points2D])
    # the 210 resized rows lose 35 at the top and 35 at the bottom: COLMAP y stays in [30, 150]
    assert ys.min() >= 35 * 180 / 210 and ys.max() <= 175 * 180 / 210


def test_palette_and_grayscale_inputs(model: VGGT, tmp_path: Path) -> None:
    write_photo(tmp_path / "palette.png", (150, 100), mode="P")
    Image.fromarray(np.full((100, 150), 128, np.uint8), mode="L").save(tmp_path / "gray.png")
    rec = reconstruct(tmp_path, model, device="cpu")
    assert rec.names == ["gray.png", "palette.png"]
    assert rec.colors.shape[-1] == 3 and (rec.colors[0] == 128).all()


@needs_av
def test_video_input(model: VGGT, tmp_path: Path) -> None:
    import av

    video = tmp_path / "clip.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(6):
            pixels = np.full((64, 96, 3), 40 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    batch = load_images(video, target_size=140, max_frames=3)
    rec = reconstruct(batch, model, device="cpu")
    assert rec.names == ["clip.mp4#frame=0", "clip.mp4#frame=2", "clip.mp4#frame=5"]
    sparse = to_colmap(rec, max_points=200)
    assert sorted(image.name for image in sparse.images.values()) == sorted(rec.names)
    assert (sparse.camera(1).width, sparse.camera(1).height) == (96, 64)


def test_tracks_start_at_the_queries_in_original_pixels(model: VGGT, tmp_path: Path) -> None:
    paths = [write_photo(tmp_path / f"{i}.png", (300, 200), seed=i) for i in range(3)]
    queries = np.array([[10.0, 20.0], [299.0, 199.0], [150.5, 100.25]])
    rec = reconstruct(paths, model, device="cpu", query_points=queries)
    tracks = rec.tracks_original()
    assert tracks.shape == (3, 3, 2)
    np.testing.assert_allclose(tracks[0], queries, atol=1e-3)  # frame 0 holds the queries
    assert rec.track_visibility.shape == rec.track_confidence.shape == (3, 3)


def test_point_head_source(model: VGGT, tmp_path: Path) -> None:
    write_photo(tmp_path / "x.png", (160, 120))
    rec = reconstruct(tmp_path, model, device="cpu", point_source="head")
    assert rec.point_source == "head"
    np.testing.assert_array_equal(rec.points(), rec.points_from_head)
    assert len(to_colmap(rec, max_points=100).points3D) == 100
    with pytest.raises(ValueError, match="point_source"):
        reconstruct(tmp_path, model, device="cpu", point_source="mesh")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Bad inputs


def test_empty_folder(model: VGGT, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ImageLoadError, match="no images found"):
        reconstruct(tmp_path, model, device="cpu")


def test_corrupt_file_is_named(model: VGGT, tmp_path: Path) -> None:
    write_photo(tmp_path / "good.png", (100, 80))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(ImageLoadError, match=r"broken\.jpg") as info:
        reconstruct(tmp_path, model, device="cpu")
    assert [p.name for p, _ in info.value.failures] == ["broken.jpg"]


def test_missing_path(model: VGGT, tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="no such file or folder"):
        reconstruct(tmp_path / "nope", model, device="cpu")
