"""One-call evaluation of a VGGT reconstruction (cameras, depth, point maps, tracks) and its report."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from .camera import DEFAULT_THRESHOLDS, camera_metrics
from .depth import DepthAlignment, depth_metrics
from .points import NearestNeighborBackend, point_cloud_metrics
from .tracks import track_metrics
from .trajectory import trajectory_metrics

__all__ = ["RECONSTRUCTION_KEYS", "evaluate_reconstruction", "metrics_table", "print_metrics"]

ArrayLike = np.ndarray | torch.Tensor

# Keys read from the prediction / ground-truth dicts, with their shapes.
RECONSTRUCTION_KEYS: dict[str, str] = {
    "extrinsics": "[S, 3, 4] camera-from-world, OpenCV axes",
    "depth": "[S, H, W] (or [S, H, W, 1]) z-depth",
    "world_points": "[S, H, W, 3] points in the world frame",
    "valid_mask": "[S, H, W] bool, ground truth only",
    "tracks": "[S, N, 2] (x, y) pixels; frame 0 holds the queries",
    "track_visibility": "[S, N] bool, ground truth only",
}


def _image_hw(*dicts: Mapping[str, ArrayLike]) -> tuple[int, int] | None:
    """(H, W) from the first dense map found, for the TAP-Vid threshold scaling."""
    for data in dicts:
        for key, first_spatial in (("depth", 1), ("world_points", 1), ("valid_mask", 1)):
            value = data.get(key)
            if value is not None and value.ndim >= 3:
                return int(value.shape[first_spatial]), int(value.shape[first_spatial + 1])
    return None


def _num_frames(value: ArrayLike) -> int:
    return int(value.shape[0]) if value.ndim > 0 else 0


def evaluate_reconstruction(
    pred: Mapping[str, ArrayLike],
    gt: Mapping[str, ArrayLike],
    *,
    pose_thresholds: Sequence[int] = DEFAULT_THRESHOLDS,
    sign_ambiguous: bool = False,
    depth_alignment: DepthAlignment = "frame",
    point_alignment: Literal["similarity", "rigid", "none"] = "similarity",
    max_points: int | None = 100_000,
    seed: int = 0,
    image_hw: tuple[int, int] | None = None,
    nn_backend: NearestNeighborBackend = "auto",
) -> dict[str, float]:
    """Every metric whose inputs are present in both ``pred`` and ``gt`` (see ``RECONSTRUCTION_KEYS``).

    * ``camera/...`` from ``extrinsics`` (needs S >= 2): :func:`~vggt_py.evaluation.camera.camera_metrics`.
    * ``trajectory/...`` from ``extrinsics`` (needs S >= 3 and every camera finite, so not for a baseline
      that failed to register frames): ATE after Sim(3) alignment and RPE per step,
      :func:`~vggt_py.evaluation.trajectory.trajectory_metrics`.
    * ``depth/...`` from ``depth`` and the ground truth's optional ``valid_mask``:
      :func:`~vggt_py.evaluation.depth.depth_metrics`.
    * ``points/...`` from ``world_points`` and ``valid_mask``:
      :func:`~vggt_py.evaluation.points.point_cloud_metrics`.
    * ``tracks/...`` from ``tracks`` and the ground truth's optional ``track_visibility``:
      :func:`~vggt_py.evaluation.tracks.track_metrics`; ``image_hw`` defaults to the size of the depth or
      point maps when present (for TAP-Vid's 256-px threshold scaling).

    Returns:
        A flat ``{"group/metric": value}`` dict.

    Raises:
        ValueError: if no metric can be computed, or an input is malformed.
    """
    metrics: dict[str, float] = {}

    def add(group: str, values: Mapping[str, float]) -> None:
        metrics.update({f"{group}/{name}": value for name, value in values.items()})

    def both(key: str) -> bool:
        return pred.get(key) is not None and gt.get(key) is not None

    valid_mask = gt.get("valid_mask")
    if both("extrinsics") and min(_num_frames(pred["extrinsics"]), _num_frames(gt["extrinsics"])) >= 2:
        add("camera", camera_metrics(pred["extrinsics"], gt["extrinsics"], pose_thresholds, sign_ambiguous))
        finite = all(torch.isfinite(torch.as_tensor(v)).all() for v in (pred["extrinsics"], gt["extrinsics"]))
        if finite and min(_num_frames(pred["extrinsics"]), _num_frames(gt["extrinsics"])) >= 3:
            add("trajectory", trajectory_metrics(pred["extrinsics"], gt["extrinsics"]))
    if both("depth"):
        add("depth", depth_metrics(pred["depth"], gt["depth"], valid_mask, depth_alignment))
    if both("world_points"):
        add(
            "points",
            point_cloud_metrics(
                pred["world_points"], gt["world_points"], valid_mask, point_alignment, max_points, seed, nn_backend
            ),
        )
    if both("tracks"):
        hw = image_hw if image_hw is not None else _image_hw(gt, pred)
        add("tracks", track_metrics(pred["tracks"], gt["tracks"], gt.get("track_visibility"), hw))
    if not metrics:
        raise ValueError(
            "nothing to evaluate: pred and gt share none of 'extrinsics' (S >= 2), 'depth', 'world_points', "
            f"'tracks'; pred has {sorted(pred)}, gt has {sorted(gt)}"
        )
    return metrics


_COUNT_METRICS = frozenset({"valid_pixels", "valid_points", "visible_points"})


def _format(name: str, value: float) -> str:
    if name in _COUNT_METRICS and math.isfinite(value):
        return f"{int(value)}"
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    return f"{value:.4f}" if abs(value) >= 1e-3 else f"{value:.3e}"


def metrics_table(metrics: Mapping[str, float], title: str | None = "Evaluation") -> Table:
    """A rich table of ``{"group/metric": value}`` metrics, one row per metric, grouped."""
    table = Table(title=title)
    table.add_column("group", style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    previous_group = None
    for key, value in metrics.items():
        group, _, name = key.rpartition("/")
        if previous_group is not None and group != previous_group:
            table.add_section()
        table.add_row(group if group != previous_group else "", name, _format(name, float(value)))
        previous_group = group
    return table


def print_metrics(
    metrics: Mapping[str, float], console: Console | None = None, title: str | None = "Evaluation"
) -> None:
    """Print :func:`metrics_table` to ``console`` (default: a new stdout console)."""
    (console or Console()).print(metrics_table(metrics, title))
