import json

import numpy as np
import pytest

from vggt_py.cli import main


def _write_pair(tmp_path, num_frames: int = 3):
    rng = np.random.default_rng(0)
    gt_depth = rng.uniform(1.0, 3.0, size=(num_frames, 4, 5))
    rotation = np.broadcast_to(np.eye(3), (num_frames, 3, 3))
    extrinsics = np.concatenate((rotation, rng.normal(size=(num_frames, 3, 1))), axis=-1)
    pred_path, gt_path = tmp_path / "pred.npz", tmp_path / "gt.npz"
    np.savez(pred_path, extrinsics=extrinsics, depth=2.0 * gt_depth[..., None], intrinsics=np.zeros((num_frames, 3, 3)))
    np.savez(gt_path, extrinsics=extrinsics, depth=gt_depth)
    return pred_path, gt_path


def test_eval_prints_a_table_and_writes_json(tmp_path, capsys):
    pred_path, gt_path = _write_pair(tmp_path)
    out = tmp_path / "reports" / "metrics.json"
    assert main(["eval", str(pred_path), str(gt_path), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "auc@30" in printed and "abs_rel" in printed
    metrics = json.loads(out.read_text())
    assert metrics["camera/auc@30"] == 1.0
    assert metrics["depth/abs_rel"] == pytest.approx(0.0, abs=1e-12)
    assert sorted(p.name for p in out.parent.iterdir()) == ["metrics.json"]  # no temporary file left


def test_missing_file_and_nothing_to_evaluate_are_cli_errors(tmp_path, capsys):
    pred_path, gt_path = _write_pair(tmp_path)
    assert main(["eval", str(tmp_path / "nope.npz"), str(gt_path)]) == 2
    assert "PRED file not found" in capsys.readouterr().err
    empty = tmp_path / "empty.npz"
    np.savez(empty, something=np.zeros(3))
    assert main(["eval", str(pred_path), str(empty)]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err
    not_npz = tmp_path / "bad.npz"
    not_npz.write_text("hello")
    assert main(["eval", str(not_npz), str(gt_path)]) == 2
    assert "cannot read PRED" in capsys.readouterr().err


def test_non_finite_metrics_become_null_in_json(tmp_path):
    pred_path, gt_path = _write_pair(tmp_path, num_frames=2)
    np.savez(pred_path, extrinsics=np.full((2, 3, 4), np.nan))  # a failed prediction: NaN errors
    out = tmp_path / "m.json"
    assert main(["eval", str(pred_path), str(gt_path), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["camera/rot_err_deg_mean"] is None


def test_help_documents_the_keys(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    help_text = capsys.readouterr().out
    for key in ("extrinsics", "depth", "world_points", "valid_mask", "tracks", "track_visibility"):
        assert key in help_text


# ---------------------------------------------------------------------------------------------
# Folders: a demo folder (scene/ + reconstruction.npz), a scene folder, a reconstruct output folder


def _exact_demo_folder(root, num_frames: int = 4):
    """A demo-like folder: scene/ (the ground truth) and reconstruction.npz predicting it exactly."""
    from inference.test_consistency import make_reconstruction
    from vggt_py.data.scene_folder import write_scene_folder
    from vggt_py.data.synthetic import SyntheticScene
    from vggt_py.inference.export import export_npz

    rec = make_reconstruction(num_frames)
    scene = SyntheticScene(
        images=rec.colors,
        depths=rec.depth,
        intrinsics=rec.intrinsics,
        extrinsics=rec.extrinsics,
        world_points=rec.points_from_depth,
        valid_masks=rec.depth > 0,
        tracks=np.zeros((num_frames, 0, 2), dtype=np.float32),
        track_visibility=np.zeros((num_frames, 0), dtype=bool),
    )
    write_scene_folder(scene, root / "scene")
    export_npz(rec, root / "reconstruction.npz")
    return rec


def test_eval_takes_a_demo_folder_as_ground_truth_and_prediction(tmp_path, capsys):
    _exact_demo_folder(tmp_path / "demo")
    out = tmp_path / "m.json"
    assert main(["eval", str(tmp_path / "demo"), str(tmp_path / "demo"), "--json", str(out)]) == 0
    assert "reconstruction.npz vs demo/scene" in capsys.readouterr().out
    metrics = json.loads(out.read_text())
    assert metrics["camera/auc@30"] == pytest.approx(1.0)
    assert metrics["depth/abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["points/chamfer"] == pytest.approx(0.0, abs=1e-4)
    # the same from the scene folder itself and the .npz file itself
    assert main(["eval", str(tmp_path / "demo" / "reconstruction.npz"), str(tmp_path / "demo" / "scene")]) == 0


def test_eval_resamples_a_reconstruction_to_the_ground_truths_photo_size(tmp_path):
    import dataclasses

    from inference.test_consistency import make_reconstruction
    from vggt_py.inference.export import export_npz

    rec = make_reconstruction(3)
    height, width = rec.image_size
    half = np.array([[0.5, 0, -0.25], [0, 0.5, -0.25], [0, 0, 1]])  # model = photo / 2 (pixel centres)
    rec = dataclasses.replace(
        rec, original_sizes=np.tile([2 * width, 2 * height], (3, 1)), transforms=np.repeat(half[None], 3, axis=0)
    )
    gt_depth = np.stack([rec.depth_original(i) for i in range(3)])  # [3, 2H, 2W], NaN on the outer half pixel
    export_npz(rec, tmp_path / "out" / "reconstruction.npz")
    np.savez(tmp_path / "gt.npz", extrinsics=rec.extrinsics, depth=np.nan_to_num(gt_depth))
    out = tmp_path / "m.json"
    assert main(["eval", str(tmp_path / "out"), str(tmp_path / "gt.npz"), "--json", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["depth/valid_pixels"] == np.isfinite(gt_depth).sum() > 3 * height * width
    assert metrics["depth/abs_rel"] == pytest.approx(0.0, abs=1e-6)


def test_eval_folder_without_anything_to_read(tmp_path, capsys):
    pred_path, _ = _write_pair(tmp_path)
    (tmp_path / "empty").mkdir()
    assert main(["eval", str(pred_path), str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "without cameras.json (a scene folder), scene/cameras.json (a demo folder)" in err
