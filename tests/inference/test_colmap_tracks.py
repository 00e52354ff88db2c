"""COLMAP export with multi-view tracks on the synthetic plane scene of ``test_consistency.py``, read back by pycolmap."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from inference.test_consistency import make_reconstruction, rotate_camera  # tests/ is on sys.path

from vggt_py.inference.colmap_tracks import (
    SparseTracks,
    build_tracks,
    filter_tracks,
    moved_with,
    tracks_from_refinement,
)
from vggt_py.inference.export import MANIFEST_NAME, export
from vggt_py.inference.reconstruction import Reconstruction

pycolmap = pytest.importorskip("pycolmap")

POINTS = 150  # per query frame: keeps each build well under a second


def at_double_size(rec: Reconstruction) -> Reconstruction:
    """``rec`` as if its photos were twice the model size: original (x, y) -> model (x / 2 - 0.25, y / 2 - 0.25)."""
    transform = np.array([[0.5, 0.0, -0.25], [0.0, 0.5, -0.25], [0.0, 0.0, 1.0]])
    return dataclasses.replace(
        rec, original_sizes=rec.original_sizes * 2, transforms=np.repeat(transform[None], len(rec), axis=0)
    )


@pytest.fixture(scope="module")
def exact() -> Reconstruction:
    return at_double_size(make_reconstruction(5))


def read_back(folder: Path) -> tuple[pycolmap.Reconstruction, np.ndarray, np.ndarray]:
    """The model, and per observation its stored-convention error recomputed with pycolmap's own camera model."""
    model = pycolmap.Reconstruction(str(folder))
    errors, stored = [], []
    for point in model.points3D.values():
        per_point = []
        for element in point.track.elements:
            image = model.image(element.image_id)
            projected = image.project_point(point.xyz)  # pycolmap: COLMAP pixels (centres at +0.5)
            per_point.append(np.linalg.norm(projected - image.points2D[element.point2D_idx].xy))
        errors += per_point
        stored.append((point.error, np.mean(per_point)))
    return model, np.asarray(errors), np.asarray(stored)


def test_exact_scene_gives_multi_view_points_with_near_zero_errors(exact: Reconstruction, tmp_path: Path) -> None:
    written = export(exact, tmp_path / "out", ["colmap"], colmap_points="tracks")
    model, errors, stored = read_back(written["colmap"])
    assert model.num_images() == 5 and model.num_points3D() > 500
    mean_track = model.compute_mean_track_length()
    assert mean_track > 3.0  # the five views overlap: most points are seen by most frames
    assert model.compute_num_observations() / model.num_points3D() == pytest.approx(mean_track)
    # original (2x) pixels; a few matches at the planes' edges are off by up to match_px (0.5 model px)
    assert model.compute_mean_reprojection_error() < 0.05 and np.median(errors) < 0.01
    assert np.percentile(errors, 99) < 0.5 and errors.max() <= 2 * 0.5 + 1e-6
    np.testing.assert_allclose(stored[:, 0], stored[:, 1], atol=1e-6)  # stored errors are the real ones
    manifest = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())["colmap"]
    assert manifest["points_kind"] == "tracks" and manifest["points"] == model.num_points3D()
    assert manifest["observations_per_point"] == pytest.approx(mean_track)
    assert manifest["mean_reprojection_error"] == pytest.approx(model.compute_mean_reprojection_error(), rel=1e-3)


def test_errors_are_measured_and_filtered(exact: Reconstruction, tmp_path: Path) -> None:
    """Camera 2 turned by 0.3 degrees: its observations are off by ~0.37 x 2 x 70 px and the filter drops them."""
    rec = rotate_camera(exact, 2, (0.0, math.radians(0.3), 0.0))
    everything = build_tracks(rec, points_per_frame=POINTS, max_reprojection_error=None)
    errors = everything.errors(rec)
    involves_2 = np.isin(everything.point, everything.point[everything.frame == 2])
    assert np.mean(errors[everything.frame == 2]) > 0.3  # camera 2 disagrees with the others' points
    assert np.percentile(errors[~involves_2], 90) < 0.05  # the others agree
    strict = filter_tracks(rec, everything, 0.1)
    assert strict.num_points < everything.num_points and strict.errors(rec).max() <= 0.1
    export(rec, tmp_path / "out", ["colmap"], colmap_tracks=strict, colmap_max_error=0.1)
    model, back, stored = read_back(tmp_path / "out" / "sparse")
    assert model.num_points3D() == strict.num_points and back.max() <= 0.1 + 1e-6
    np.testing.assert_allclose(stored[:, 0], stored[:, 1], atol=1e-6)
    loose = export(rec, tmp_path / "loose", ["colmap"], colmap_max_error=None, colmap_points="tracks")
    _, loose_errors, _ = read_back(loose["colmap"])
    assert loose_errors.max() > 0.3  # real errors are stored, not zeros


def test_dense_points_are_kept_as_an_option(exact: Reconstruction, tmp_path: Path) -> None:
    written = export(exact, tmp_path / "out", ["colmap"], colmap_points="dense", colmap_max_points=300)
    model, errors, _ = read_back(written["colmap"])
    assert model.num_points3D() == 300 and model.compute_mean_track_length() == 1.0
    assert errors.max() < 1e-3
    assert json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())["colmap"]["points_kind"] == "dense"


def test_one_frame_falls_back_to_dense_points_and_says_why(exact: Reconstruction, tmp_path: Path) -> None:
    single = dataclasses.replace(
        exact,
        **{f: getattr(exact, f)[:1] for f in ("extrinsics", "intrinsics", "depth", "depth_conf", "points_from_depth",
                                              "colors", "original_sizes", "transforms", "valid_regions",
                                              "pose_encoding", "points_from_head", "points_conf")},
        names=exact.names[:1],
    )
    export(single, tmp_path / "out", ["colmap"], colmap_max_points=50)
    entry = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())["colmap"]
    assert entry["points_kind"] == "dense" and "at least 2 frames" in entry["fallback_reason"]
    with pytest.raises(ValueError, match="at least 2 frames"):
        export(single, tmp_path / "strict", ["colmap"], colmap_points="tracks")


def test_refined_tracks_are_exported(exact: Reconstruction, tmp_path: Path) -> None:
    """Bundle adjustment of perturbed cameras: its adjusted multi-view tracks are what the COLMAP model holds."""
    from vggt_py.inference.refine import refine

    perturbed = rotate_camera(rotate_camera(exact, 1, (0.0, math.radians(0.5), 0.0)), 3, (math.radians(-0.4), 0.0, 0.0))
    before = build_tracks(perturbed, points_per_frame=POINTS, max_reprojection_error=None).summary(perturbed)
    result = refine(perturbed, points_per_frame=POINTS)
    assert result.report.refined and result.colmap_model is not None
    refined = result.reconstruction
    tracks = tracks_from_refinement(refined, result.colmap_model)
    assert tracks.source == "refined" and tracks.observations_per_point > 2.0
    export(refined, tmp_path / "out", ["colmap"], colmap_tracks=tracks)
    model, errors, stored = read_back(tmp_path / "out" / "sparse")
    assert model.num_points3D() == tracks.num_points
    assert model.compute_mean_track_length() > 2.0
    after = model.compute_mean_reprojection_error()
    assert after < 0.5 * before["mean_reprojection_error"]
    np.testing.assert_allclose(stored[:, 0], stored[:, 1], atol=1e-6)
    # the points are the adjustment's, not the depth points of the query pixels
    adjusted = np.array([p.xyz for _, p in sorted(result.colmap_model.points3D.items())])
    assert np.isin(np.round(tracks.xyz, 9), np.round(adjusted, 9)).all(axis=1).all()


def test_bad_arguments(exact: Reconstruction, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="colmap_points must be one of"):
        export(exact, tmp_path / "a", ["colmap"], colmap_points="sparse")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_reprojection_error"):
        build_tracks(exact, max_reprojection_error=-1.0)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        SparseTracks(np.zeros((2, 3)), np.zeros((2, 3), np.uint8), np.zeros(3, np.int64), np.zeros(2, np.int64),
                     np.zeros((3, 2)), "x")
    no_head = dataclasses.replace(exact, points_from_head=None, points_conf=None)
    with pytest.raises(ValueError, match="no point-head map and no track-head tracks"):
        build_tracks(no_head)


def test_tracks_move_with_known_poses_and_anchors(exact: Reconstruction) -> None:
    """A similarity applied after the tracks were built (known poses, a metric anchor) moves their points too."""
    from vggt_py.geometry import axis_angle_to_mat, similarity_matrix
    from vggt_py.inference.anchors import apply_similarity_to

    tracks = build_tracks(exact, points_per_frame=POINTS, max_reprojection_error=None)
    rotation = axis_angle_to_mat(torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)).numpy()
    matrix = similarity_matrix(2.5, rotation, np.array([1.0, -2.0, 0.5]))
    moved_rec = apply_similarity_to(exact, matrix)
    moved = moved_with(tracks, exact, moved_rec)
    np.testing.assert_allclose(moved.xyz, tracks.xyz @ (2.5 * rotation).T + [1.0, -2.0, 0.5], atol=1e-4)
    np.testing.assert_allclose(moved.errors(moved_rec), tracks.errors(exact), atol=1e-3)  # pixels do not move
    assert moved_with(tracks, exact, exact) is tracks
    with pytest.raises(ValueError, match="differ in their frames"):
        moved_with(tracks, exact, make_reconstruction(3))
