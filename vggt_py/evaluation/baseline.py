"""The classical pipeline (pycolmap SfM) evaluated with the same metrics as a learned model."""

from __future__ import annotations

import numpy as np

from vggt_py.data.colmap_baseline import ColmapResult, run_colmap
from vggt_py.data.synthetic import SyntheticScene
from vggt_py.evaluation.reconstruction import evaluate_reconstruction

__all__ = ["evaluate_colmap_baseline", "evaluate_scene_prediction"]


def evaluate_scene_prediction(extrinsics: np.ndarray, scene: SyntheticScene, **options) -> dict[str, float]:
    """Camera metrics of predicted ``extrinsics`` [S, 3, 4] against a scene's ground truth.

    Frames with NaN extrinsics (not registered) make every pair they belong to a failure: such a
    pair's error is NaN, which no AUC or RRA/RTA threshold counts as a success.
    """
    metrics = evaluate_reconstruction({"extrinsics": extrinsics}, {"extrinsics": scene.extrinsics}, **options)
    registered = np.isfinite(extrinsics).all(axis=(1, 2))
    metrics["camera/registered_fraction"] = float(registered.mean())
    return metrics


def evaluate_colmap_baseline(
    scene: SyntheticScene, known_intrinsics: bool = True, seed: int = 0, **options
) -> tuple[dict[str, float], ColmapResult]:
    """Run SIFT + matching + incremental mapping on the scene's images alone, then score the cameras."""
    result = run_colmap(scene.images, scene.intrinsics if known_intrinsics else None, seed=seed)
    return evaluate_scene_prediction(result.extrinsics, scene, **options), result
