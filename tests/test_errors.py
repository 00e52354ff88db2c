"""Bad weights and configs get a message naming the file or field, what was found and what was expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from vggt_py import VGGT, VGGTConfig
from vggt_py.hub import WeightsFileError, load_weights_file


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    VGGT(VGGTConfig.from_preset("tiny")).save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda data: b"", "empty"),
        (lambda data: data[: len(data) // 2], "truncated or corrupt"),
        (lambda data: b"\x93garbage" * 100, "not a readable safetensors file"),
    ],
    ids=["zero-byte", "truncated", "garbage"],
)
def test_damaged_safetensors_name_the_file(saved: Path, tmp_path: Path, damage, match: str) -> None:
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(damage((saved / "model.safetensors").read_bytes()))
    (tmp_path / "config.json").write_bytes((saved / "config.json").read_bytes())
    with pytest.raises(WeightsFileError, match=match) as info:
        load_weights_file(bad)
    assert str(bad) in str(info.value)
    with pytest.raises(ValueError, match="safetensors"):
        VGGT.from_pretrained(tmp_path)


def _rewrite(saved: Path, tmp_path: Path, change) -> Path:
    from safetensors.torch import load_file

    state = load_file(str(saved / "model.safetensors"))
    key = sorted(state)[0]
    state[key] = change(state[key])
    save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_bytes((saved / "config.json").read_bytes())
    return tmp_path


def test_int64_weights_are_refused_naming_the_tensor(saved: Path, tmp_path: Path) -> None:
    folder = _rewrite(saved, tmp_path, lambda t: t.to(torch.int64))
    with pytest.raises(WeightsFileError, match=r"tensor '.*' has dtype int64; expected floating-point"):
        VGGT.from_pretrained(folder)


def test_nan_weights_are_refused_at_load(saved: Path, tmp_path: Path) -> None:
    def poison(t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        t.view(-1)[0] = float("nan")
        return t

    with pytest.raises(WeightsFileError, match=r"1 non-finite value"):
        VGGT.from_pretrained(_rewrite(saved, tmp_path, poison))


def test_half_precision_weights_load_as_float32(saved: Path, tmp_path: Path) -> None:
    folder = _rewrite(saved, tmp_path, lambda t: t.half())
    model = VGGT.from_pretrained(folder)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_corrupt_default_model_in_the_hf_cache_falls_back_with_a_notice(
    saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vggt_py.inference import api

    snapshot = tmp_path / "models--facebook--VGGT-1B" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (tmp_path / "models--facebook--VGGT-1B" / "refs").mkdir()
    (tmp_path / "models--facebook--VGGT-1B" / "refs" / "main").write_text("0" * 40)
    (snapshot / "config.json").write_bytes((saved / "config.json").read_bytes())
    (snapshot / "model.safetensors").write_bytes(b"")  # an interrupted download
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert api.resolve_default_model(offline=True).cached  # the cache is what would be used
    model, choice = api.load_default_model("cpu", offline=True)
    assert choice.is_fallback and "weights cannot be used" in choice.notice() and "empty" in choice.notice()
    assert isinstance(model, VGGT)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"img_size": "224"}, r"'img_size' must be int, got '224' \(str\)"),
        ({"img_size": None}, r"'img_size' must be int, got None"),
        ({"embed_dim": "1024"}, r"'embed_dim' must be int, got '1024'"),
        ({"aggregator": {"depth": 2.5}}, r"'aggregator.depth' must be int, got 2.5"),
        ({"activation_checkpointing": "yes"}, r"'activation_checkpointing' must be bool"),
    ],
)
def test_config_fields_of_the_wrong_type_are_named(tmp_path: Path, fields: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VGGTConfig.from_dict(fields)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(fields))
    with pytest.raises(ValueError, match=str(path).replace(".", r"\.")):
        VGGTConfig.from_json(path)


def test_binary_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    with pytest.raises(ValueError, match="not a JSON config file"):
        VGGTConfig.from_json(path)


def test_training_scenes_refuse_camera_matrices_that_are_not_rotations(tmp_path: Path) -> None:
    import numpy as np

    from vggt_py.data.scene import ArrayScene, SceneError
    from vggt_py.data.scene_folder import read_scene_folder, write_scene_folder
    from vggt_py.data.synthetic import SceneConfig, generate_scene

    scene = generate_scene(SceneConfig.preset("easy", num_frames=2, height=28, width=28, num_tracks=0), 0)
    folder = write_scene_folder(scene, tmp_path / "scene")
    cameras = json.loads((folder / "cameras.json").read_text())
    extrinsics = np.asarray(cameras["frames"][1]["extrinsics"])
    extrinsics[:, :3] *= 2.0  # a scaled "rotation"
    cameras["frames"][1]["extrinsics"] = extrinsics.tolist()
    (folder / "cameras.json").write_text(json.dumps(cameras))
    with pytest.raises(ValueError, match=r"cameras\.json.*not a rotation"):
        read_scene_folder(folder)
    bad = np.array(scene.extrinsics, dtype=np.float64)
    bad[0, :, :3] = np.diag([1.0, 1.0, -1.0])  # a reflection
    with pytest.raises(SceneError, match=r"frame 0.*determinant -1"):
        ArrayScene("s", scene.images, scene.intrinsics, bad, scene.depths)
