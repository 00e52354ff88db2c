import numpy as np
import pytest
import torch
from rich.console import Console

from vggt_py.evaluation import evaluate_reconstruction, metrics_table, print_metrics
from vggt_py.geometry import axis_angle_to_mat, unproject_depth


def _scene(num_frames: int = 3, height: int = 6, width: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    generator = torch.Generator().manual_seed(seed)
    rotation = axis_angle_to_mat(0.2 * torch.randn(num_frames, 3, generator=generator, dtype=torch.float64))
    translation = torch.randn(num_frames, 3, 1, generator=generator, dtype=torch.float64)
    extrinsics = torch.cat((rotation, translation), dim=-1)
    depth = 1.0 + torch.rand(num_frames, height, width, generator=generator, dtype=torch.float64)
    intrinsics = torch.tensor([[10.0, 0.0, width / 2], [0.0, 10.0, height / 2], [0.0, 0.0, 1.0]], dtype=torch.float64)
    points = unproject_depth(depth, intrinsics.expand(num_frames, 3, 3), extrinsics)
    tracks = torch.rand(num_frames, 5, 2, generator=generator, dtype=torch.float64) * torch.tensor([width, height])
    return {
        "extrinsics": extrinsics.numpy(),
        "depth": depth.numpy(),
        "world_points": points.numpy(),
        "valid_mask": np.ones((num_frames, height, width), dtype=bool),
        "tracks": tracks.numpy(),
        "track_visibility": np.ones((num_frames, 5), dtype=bool),
    }


def _scaled_prediction(gt: dict[str, np.ndarray], scale: float) -> dict[str, np.ndarray]:
    """The same scene in a world scaled by ``scale``: a perfect but scale-ambiguous prediction."""
    extrinsics = gt["extrinsics"].copy()
    extrinsics[:, :, 3] *= scale
    return {
        "extrinsics": extrinsics,
        "depth": gt["depth"] * scale,
        "world_points": gt["world_points"] * scale,
        "tracks": gt["tracks"].copy(),
    }


def test_perfect_prediction_up_to_scale():
    gt = _scene()
    metrics = evaluate_reconstruction(_scaled_prediction(gt, 2.5), gt)
    assert metrics["camera/auc@30"] == 1.0 and metrics["camera/rra@5"] == 1.0
    assert metrics["depth/abs_rel"] == pytest.approx(0.0, abs=1e-12) and metrics["depth/delta<1.25"] == 1.0
    assert metrics["points/chamfer"] < 1e-9
    assert metrics["tracks/epe"] == 0.0 and metrics["tracks/delta_avg"] == 1.0
    assert all(isinstance(value, float) for value in metrics.values())
    groups = {key.split("/")[0] for key in metrics}
    assert groups == {"camera", "trajectory", "depth", "points", "tracks"}
    assert metrics["trajectory/ate_rmse"] < 1e-9 and metrics["trajectory/scale"] == pytest.approx(1 / 2.5)


def test_absent_inputs_are_skipped():
    gt = _scene()
    pred = {"extrinsics": torch.from_numpy(gt["extrinsics"])}
    metrics = evaluate_reconstruction(pred, gt)
    assert metrics and all(key.startswith(("camera/", "trajectory/")) for key in metrics)
    single_frame = {key: value[:1] for key, value in gt.items()}
    metrics = evaluate_reconstruction({"depth": single_frame["depth"]}, single_frame)
    assert set(metrics) == {"depth/abs_rel", "depth/delta<1.25", "depth/valid_pixels"}
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_reconstruction({"extrinsics": gt["extrinsics"][:1]}, single_frame)


def test_track_thresholds_use_the_image_size_of_the_dense_maps():
    gt = _scene(height=512, width=512, num_frames=2)
    pred = {"tracks": gt["tracks"] + np.array([3.0, 0.0])}
    # image_hw is read from gt["depth"]: 3 px -> 1.5 px at 256.
    assert evaluate_reconstruction(pred, gt)["tracks/delta_avg"] == pytest.approx(0.8)
    tracks_only = {"tracks": gt["tracks"]}
    assert evaluate_reconstruction(pred, tracks_only)["tracks/delta_avg"] == pytest.approx(0.6)
    assert evaluate_reconstruction(pred, tracks_only, image_hw=(1024, 1024))["tracks/delta_avg"] == pytest.approx(1.0)


def test_malformed_input_raises_value_error():
    gt = _scene()
    with pytest.raises(ValueError, match="depth_pred"):
        evaluate_reconstruction({"depth": gt["depth"][0]}, gt)


def test_table_lists_every_metric():
    gt = _scene()
    metrics = evaluate_reconstruction(_scaled_prediction(gt, 1.0), gt)
    console = Console(record=True, width=100)
    console.print(metrics_table(metrics, title="demo"))
    text = console.export_text()
    assert "demo" in text and "auc@30" in text and "chamfer" in text and "delta_avg" in text
    print_metrics({"depth/abs_rel": float("nan")}, console=console)
    assert "nan" in console.export_text()
