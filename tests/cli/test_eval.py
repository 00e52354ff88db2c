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
