"""Config: presets, both JSON dialects, validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import parity_cases
from vggt_py import VGGTConfig
from vggt_py.config import PRESETS


def test_default_is_vggt_1b() -> None:
    config = VGGTConfig()
    assert config == VGGTConfig.from_preset("vggt-1b")
    assert config.layers_needed() == (4, 11, 17, 23)
    assert config.head_dim_in == 2048 and config.patch_start_idx == 5


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip(name: str, tmp_path: Path) -> None:
    config = VGGTConfig.from_preset(name)
    config.to_json(tmp_path / "c.json")
    assert VGGTConfig.from_json(tmp_path / "c.json") == config


def test_official_hub_config() -> None:
    config = VGGTConfig.from_dict({"img_size": 518, "patch_size": 14, "embed_dim": 1024})
    assert config == VGGTConfig()
    switched = VGGTConfig.from_dict({"embed_dim": 1024, "enable_track": False, "enable_point": False})
    assert not switched.track_head.enabled and not switched.point_head.enabled and switched.depth_head.enabled


@pytest.mark.parametrize("case", parity_cases(), ids=lambda p: p.name)
def test_parity_schema_reads_verbatim(case: Path) -> None:
    data = json.loads((case / "config.json").read_text())
    config = VGGTConfig.from_json(case / "config.json")
    assert config.embed_dim == data["embed_dim"]
    assert config.patch_embed.type == data["patch_embed"]["type"]
    assert list(config.track_head.intermediate_layer_idx) == data["track_head"]["intermediate_layer_idx"]
    assert config.track_head.hidden_size == data["track_head"]["hidden_size"]


def test_layers_needed_follows_enabled_heads() -> None:
    config = VGGTConfig()
    config.depth_head.enabled = config.point_head.enabled = config.track_head.enabled = False
    assert config.layers_needed() == (23,)
    config.camera_head.enabled = False
    assert config.layers_needed() == ()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"embed_dimm": 3}, "unknown config field 'embed_dimm'"),
        ({"aggregator": {"deph": 3}}, "unknown field\\(s\\) \\['deph'\\] in config section 'aggregator'"),
        ({"aggregator": 3}, "must be an object"),
        ({"img_size": 500}, "multiple of patch_size"),
        ({"embed_dim": 100}, "divisible by patch_embed.num_heads"),
        ({"embed_dim": 100, "patch_embed": {"type": "conv"}}, "divisible by aggregator.num_heads"),
        ({"patch_embed": {"type": "resnet"}}, "'dinov2' or 'conv'"),
        ({"depth_head": {"intermediate_layer_idx": [4, 11, 17, 40]}}, "out of range"),
        ({"aggregator": {"depth": 24, "aa_block_size": 5}}, "multiple of aggregator.aa_block_size"),
        ([1, 2], "JSON object"),
    ],
)
def test_invalid_configs(data, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VGGTConfig.from_dict(data)


def test_bad_json_file(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        VGGTConfig.from_json(tmp_path / "c.json")
    with pytest.raises(ValueError, match="unknown preset"):
        VGGTConfig.from_preset("vggt-7b")
