"""The default config's state dict equals the official checkpoint's key and shape list."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import SHARED
from vggt_py import VGGT, VGGTConfig

MANIFEST = SHARED / "parity" / "vggt1b_state_dict.json"


@pytest.fixture(scope="module")
def manifest() -> dict:
    if not MANIFEST.is_file():
        pytest.skip(f"{MANIFEST} not found")
    return json.loads(MANIFEST.read_text())


def test_state_dict_matches_official(manifest: dict) -> None:
    with torch.device("meta"):  # no 5 GB allocation
        model = VGGT()
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    theirs = manifest["state_dict"]
    assert sorted(set(theirs) - set(ours)) == []
    assert sorted(set(ours) - set(theirs)) == []
    assert ours == theirs
    assert sum(v.numel() for v in model.state_dict().values()) == manifest["num_parameters"]
    assert all(v.dtype == torch.float32 for v in model.state_dict().values())


def test_manifest_config_is_default(manifest: dict) -> None:
    assert VGGTConfig.from_dict(manifest["config"]) == VGGTConfig()


def test_parameter_counts_per_module() -> None:
    with torch.device("meta"):
        model = VGGT()

    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.state_dict().values())

    assert count(model.aggregator) == 909_112_320
    assert count(model.aggregator.patch_embed) == 304_372_736
    assert count(model.camera_head) == 216_174_610
    assert count(model.point_head) == 32_654_628
    assert count(model.depth_head) == 32_654_562
    assert count(model.track_head.feature_extractor) == 22_834_048
    assert count(model.track_head.tracker) == 43_107_348
