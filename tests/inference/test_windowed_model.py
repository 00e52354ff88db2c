"""Windowed reconstruction end to end with the bundled model (tiny frames): shapes, report, exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vggt_py import VGGT
from vggt_py.data.synthetic import SceneConfig, generate_scene
from vggt_py.inference.api import reconstruct
from vggt_py.inference.export import export, load_npz
from vggt_py.inference.images import ImageBatch, load_images


@pytest.fixture(scope="module")
def bundled() -> VGGT:
    return VGGT.from_pretrained("bundled")


def tiny(folder: Path) -> ImageBatch:
    return load_images(folder, target_size=70, patch_size=14)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7 frames of a synthetic orbit at 112 x 112, as PNG files (reconstructed at 70 x 70)."""
    scene = generate_scene(SceneConfig(num_frames=7, height=112, width=112, num_tracks=0, baseline=3.0), seed=5)
    folder = tmp_path_factory.mktemp("orbit")
    for i, image in enumerate(scene.images):
        Image.fromarray(image).save(folder / f"frame_{i:02d}.png")
    return folder


def test_windowed_matches_shapes_and_exports(bundled: VGGT, photos: Path, tmp_path: Path) -> None:
    rec = reconstruct(tiny(photos), bundled, device="cpu", window=3, overlap=1, loop_closure=[(0, 6)])
    report = rec.metadata["windowed"]
    assert [w["frames"] for w in report["windows"]][:2] == [[0, 1, 2], [2, 3, 4]]
    kept = report["frames"]
    assert len(rec) == len(kept) and sorted(kept + report["dropped_frames"]) == list(range(7))
    height, width = rec.image_size
    assert rec.extrinsics.shape == (len(kept), 3, 4) and rec.points_from_depth.shape == (len(kept), height, width, 3)
    assert np.isfinite(rec.extrinsics).all() and np.isfinite(rec.depth).all()
    np.testing.assert_allclose(rec.extrinsics[:, :, :3] @ rec.extrinsics[:, :, :3].transpose(0, 2, 1),
                               np.broadcast_to(np.eye(3), (len(kept), 3, 3)), atol=1e-4)  # rigid cameras
    assert rec.names == [f"frame_{i:02d}.png" for i in kept]
    written = export(rec, tmp_path, formats=("glb", "ply", "npz"))
    assert all(path.is_file() for path in written.values())
    again = load_npz(written["npz"])
    assert again.metadata["windowed"]["frames"] == kept
    np.testing.assert_array_equal(again.extrinsics, rec.extrinsics)


def test_single_window_equals_plain_reconstruction(bundled: VGGT, photos: Path) -> None:
    batch = tiny(photos)
    plain = reconstruct(batch, bundled, device="cpu")
    windowed = reconstruct(batch, bundled, device="cpu", window=8, overlap=2)
    np.testing.assert_array_equal(windowed.extrinsics, plain.extrinsics)
    np.testing.assert_array_equal(windowed.depth, plain.depth)


def test_argument_errors(bundled: VGGT, photos: Path) -> None:
    with pytest.raises(ValueError, match="window must be larger than overlap"):
        reconstruct(tiny(photos), bundled, device="cpu", window=4, overlap=4)
    with pytest.raises(ValueError, match="need window"):
        reconstruct(tiny(photos), bundled, device="cpu", overlap=2)
    with pytest.raises(ValueError, match="query_points"):
        reconstruct(tiny(photos), bundled, device="cpu", window=4, query_points=np.zeros((1, 2)))


def test_keyframes_reported(bundled: VGGT, photos: Path, tmp_path: Path) -> None:
    for i, name in enumerate(sorted(p.name for p in photos.iterdir())[:3]):
        Image.open(photos / name).save(tmp_path / f"a{i}.png")
    Image.open(photos / sorted(p.name for p in photos.iterdir())[0]).save(tmp_path / "a0b.png")  # a duplicate
    rec = reconstruct(tiny(tmp_path), bundled, device="cpu", keyframes=True)
    assert rec.metadata["keyframes"] == [0, 2, 3] and len(rec) == 3  # a0, (a0b skipped), a1, a2
