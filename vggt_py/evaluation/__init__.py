"""Metrics of the VGGT paper: camera pose AUC / RRA / RTA, depth AbsRel / δ, point-map Chamfer, track EPE;
trajectory ATE / RPE (:mod:`~vggt_py.evaluation.trajectory`).

``evaluate_reconstruction(pred, gt)`` computes every metric whose inputs both dicts hold;
``vggt-py eval PRED GT`` does the same from ``.npz`` files.
"""

from .camera import DEFAULT_THRESHOLDS, auc_from_errors, camera_metrics
from .depth import depth_metrics, masked_median
from .points import nearest_neighbor_distances, point_cloud_metrics
from .reconstruction import RECONSTRUCTION_KEYS, evaluate_reconstruction, metrics_table, print_metrics
from .tracks import TAPVID_RESOLUTION, TAPVID_THRESHOLDS, track_metrics
from .trajectory import absolute_trajectory_error, relative_pose_error, trajectory_metrics

__all__ = [
    "DEFAULT_THRESHOLDS",
    "RECONSTRUCTION_KEYS",
    "TAPVID_RESOLUTION",
    "TAPVID_THRESHOLDS",
    "absolute_trajectory_error",
    "auc_from_errors",
    "camera_metrics",
    "depth_metrics",
    "evaluate_reconstruction",
    "masked_median",
    "metrics_table",
    "nearest_neighbor_distances",
    "point_cloud_metrics",
    "print_metrics",
    "relative_pose_error",
    "track_metrics",
    "trajectory_metrics",
]
