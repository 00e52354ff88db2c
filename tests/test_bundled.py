"""Bundled models (vggt_py.bundled) and the "bundled" alias of VGGT.from_pretrained."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

import vggt_py
from helpers import random_images, sane_tiny_model
from vggt_py import VGGT, VGGTConfig
from vggt_py.bundled import (
    BUNDLED_MODEL,
    BundledModelNotFoundError,
    available_bundled_models,
    bundled_model_card,
    bundled_model_dir,
    bundled_spec,
    parse_bundled_spec,
)
from vggt_py.hub import resolve_pretrained


@pytest.fixture(scope="module")
def bundled() -> VGGT:
    return VGGT.from_pretrained("bundled")


def test_bundled_folder_resolves() -> None:
    assert BUNDLED_MODEL == "small-synthetic"
    assert BUNDLED_MODEL in available_bundled_models()
    folder = bundled_model_dir()
    assert folder == Path(vggt_py.__file__).resolve().parent / "assets" / "models" / "small-synthetic"
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert bundled_model_dir(BUNDLED_MODEL) == folder
    assert bundled_model_card() == folder / "README.md"
    assert bundled_spec() == "bundled:small-synthetic"


def test_bundled_model_loads_strictly(bundled: VGGT) -> None:
    folder = bundled_model_dir()
    with safe_open(str(folder / "model.safetensors"), framework="pt") as weights:
        stored = set(weights.keys())
    assert stored == set(bundled.state_dict())  # every tensor used, none missing
    assert bundled.config == VGGTConfig.from_json(folder / "config.json")
    assert bundled.config.img_size == 224 and bundled.config.patch_size == 14
    assert bundled.track_head is None and not bundled.config.track_head.enabled
    assert None not in (bundled.camera_head, bundled.depth_head, bundled.point_head)
    assert not bundled.training
    with torch.inference_mode():
        out = bundled(random_images(None, 2, 168, 224))
    assert out["pose_enc"].shape == (1, 2, 9) and out["depth"].shape == (1, 2, 168, 224, 1)
    assert out["world_points"].shape == (1, 2, 168, 224, 3) and "track" not in out
    assert all(torch.isfinite(out[k]).all() for k in ("pose_enc", "depth", "world_points"))


def test_alias_forms_load_the_same_weights(bundled: VGGT) -> None:
    named = VGGT.from_pretrained("bundled:small-synthetic")
    reference = bundled.state_dict()
    assert all(torch.equal(value, reference[key]) for key, value in named.state_dict().items())
    assert resolve_pretrained("bundled") == resolve_pretrained(bundled_model_dir())
    assert resolve_pretrained("bundled:small-synthetic")[1] == bundled_model_dir() / "model.safetensors"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("bundled", "small-synthetic"),
        ("bundled:small-synthetic", "small-synthetic"),
        ("bundled:other", "other"),
        ("bundled:", ""),
        ("./bundled", None),
        ("bundledx", None),
        ("facebook/VGGT-1B", None),
        (Path("bundled"), None),  # a Path is always a path
    ],
)
def test_parse_bundled_spec(spec: str | Path, expected: str | None) -> None:
    assert parse_bundled_spec(spec) == expected


@pytest.mark.parametrize("spec", ["bundled:nope", "bundled:", "bundled:../small-synthetic", "bundled:small-synthetic/"])
def test_unknown_bundled_name_lists_available(spec: str) -> None:
    with pytest.raises(BundledModelNotFoundError) as info:
        VGGT.from_pretrained(spec)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert repr(spec.split(":", 1)[1]) in message and "available: small-synthetic" in message


def test_bundled_model_dir_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="expected a str"):
        bundled_model_dir(3)  # type: ignore[arg-type]


def test_alias_wins_over_a_local_folder_named_bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sane_tiny_model(img_size=56).save_pretrained(tmp_path / "bundled")
    monkeypatch.chdir(tmp_path)
    assert resolve_pretrained("bundled")[1] == bundled_model_dir() / "model.safetensors"
    assert VGGT.from_pretrained("./bundled").config.img_size == 56  # the folder, spelled as a path
    assert VGGT.from_pretrained(Path("bundled")).config.img_size == 56
