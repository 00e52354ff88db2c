"""Models and inputs shared by the context-parallel tests and their worker processes."""

from __future__ import annotations

from typing import Any

import torch

from helpers import random_images, sane_tiny_model
from vggt_py import VGGT, VGGTConfig

HEIGHT, WIDTH = 56, 70


def build_model(case: dict[str, Any], rank: int) -> VGGT:
    model = sane_tiny_model(**({"img_size": case["img_size"]} if "img_size" in case else {}))
    if case.get("mismatch_rank") == rank:  # a rank that loaded other weights or another config
        if case.get("mismatch") == "config":
            config = model.config.to_dict()
            config["camera_head"]["iters"] = 3
            other = VGGT(VGGTConfig.from_dict(config)).eval()
            other.load_state_dict(model.state_dict())
            model = other
        else:
            with torch.no_grad():
                model.depth_head.norm.weight.add_(1e-3)
    return model


def build_inputs(case: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
    images = random_images(case.get("batch"), case["frames"], HEIGHT, WIDTH, seed=case.get("seed", 0))
    queries = None
    if case.get("queries"):
        g = torch.Generator().manual_seed(1)
        queries = torch.rand(case.get("batch") or 1, 5, 2, generator=g) * torch.tensor([WIDTH - 1.0, HEIGHT - 1.0])
    return images, queries


RECONSTRUCTION_FIELDS = (
    "extrinsics", "intrinsics", "depth", "depth_conf", "points_from_depth", "points_from_head", "points_conf",
    "pose_encoding", "tracks", "track_visibility", "track_confidence", "colors",
)


def run_reconstruct(case: dict[str, Any], model: VGGT, distributed: bool) -> dict[str, torch.Tensor] | None:
    """``reconstruct`` of the case's photos (``case["photos"]``); its arrays, or ``None`` (a rank other than 0)."""
    import numpy as np

    from vggt_py.inference.api import reconstruct

    queries = np.array(case["query_points"], dtype=np.float64) if "query_points" in case else None
    rec = reconstruct(case["photos"], model, device="cpu", query_points=queries, distributed=distributed)
    if rec is None:
        return None
    return {k: torch.from_numpy(np.ascontiguousarray(getattr(rec, k))) for k in RECONSTRUCTION_FIELDS
            if getattr(rec, k) is not None}
