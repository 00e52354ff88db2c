"""Weights: save/load round trip, folders, single files, .pt, the hub cache offline, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from helpers import random_images
from vggt_py import VGGT, VGGTConfig
from vggt_py.hub import WeightsNotAvailableError


def _outputs_equal(a: VGGT, b: VGGT) -> None:
    images = random_images(None, 2, 28, 42)
    with torch.inference_mode():
        out_a, out_b = a(images), b(images)
    for key in ("pose_enc", "depth", "world_points"):
        assert torch.equal(out_a[key], out_b[key]), key


def test_save_pretrained_round_trip(tiny_model: VGGT, tmp_path: Path) -> None:
    tiny_model.save_pretrained(tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == ["README.md", "config.json", "model.safetensors"]
    assert not list((tmp_path / "m").glob(".*tmp"))
    assert json.loads((tmp_path / "m" / "config.json").read_text())["embed_dim"] == 64
    loaded = VGGT.from_pretrained(tmp_path / "m")
    assert not loaded.training
    assert loaded.config == tiny_model.config
    _outputs_equal(tiny_model, loaded)
    # the checkpoint layout: plain keys, buffers not persisted
    keys = set(load_file(str(tmp_path / "m" / "model.safetensors")))
    assert keys == set(tiny_model.state_dict()) and "aggregator._resnet_mean" not in keys


def test_from_pretrained_builds_on_meta_and_materialises_buffers(tiny_model: VGGT, tmp_path: Path) -> None:
    tiny_model.save_pretrained(tmp_path)
    loaded = VGGT.from_pretrained(tmp_path, dtype=torch.float64)
    assert all(not t.is_meta for t in loaded.state_dict().values())
    assert loaded.aggregator._resnet_mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])
    assert next(loaded.parameters()).dtype == torch.float64
    assert loaded.aggregator.patch_embed.mask_token.requires_grad is False


def test_single_weights_file_and_pt(tiny_model: VGGT, tmp_path: Path) -> None:
    state = tiny_model.state_dict()
    torch.save({"model": state, "epoch": 3}, tmp_path / "ckpt.pt")  # a training checkpoint
    loaded = VGGT.from_pretrained(tmp_path / "ckpt.pt", config=tiny_model.config)
    _outputs_equal(tiny_model, loaded)
    # DDP-prefixed keys in a lone safetensors file, config.json beside it
    save_file({f"module.{k}": v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    tiny_model.config.to_json(tmp_path / "config.json")
    _outputs_equal(tiny_model, VGGT.from_pretrained(tmp_path / "w.safetensors"))


def test_pt_with_pickled_code_is_refused(tmp_path: Path) -> None:
    torch.save({"model": {"x": torch.zeros(1)}, "payload": Path("/etc")}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="weights-only"):
        VGGT.from_pretrained(tmp_path / "evil.pt", config=VGGTConfig.from_preset("tiny"))


def test_key_mismatch_lists_keys(tiny_model: VGGT, tmp_path: Path) -> None:
    state = dict(tiny_model.state_dict())
    state.pop("camera_head.embed_pose.weight")
    state["camera_head.extra"] = torch.zeros(2)
    state["depth_head.norm.weight"] = torch.zeros(3)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "model.safetensors"))
    tiny_model.config.to_json(tmp_path / "config.json")
    with pytest.raises(ValueError) as info:
        VGGT.from_pretrained(tmp_path)
    message = str(info.value)
    assert "missing keys (1): camera_head.embed_pose.weight" in message
    assert "unexpected keys (1): camera_head.extra" in message
    assert "depth_head.norm.weight: checkpoint (3,) vs model (128,)" in message


def test_disabled_head_weights_are_dropped(tiny_model: VGGT, tmp_path: Path) -> None:
    tiny_model.save_pretrained(tmp_path)
    config = VGGTConfig.from_preset("tiny")
    config.track_head.enabled = False
    loaded = VGGT.from_pretrained(tmp_path, config=config)
    assert loaded.track_head is None
    _outputs_equal(tiny_model, loaded)


def test_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        VGGT.from_pretrained(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no weights file"):
        VGGT.from_pretrained(tmp_path)


def _populate_hub_cache(cache: Path, repo_id: str, files: dict[str, bytes]) -> None:
    """Lay out a Hugging Face cache entry as ``hf_hub_download`` leaves it."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)


def test_offline_hub_cache(tiny_model: VGGT, tmp_path: Path) -> None:
    tiny_model.save_pretrained(tmp_path / "src")
    files = {p.name: p.read_bytes() for p in (tmp_path / "src").iterdir()}
    _populate_hub_cache(tmp_path / "cache", "someone/vggt-tiny", files)
    loaded = VGGT.from_pretrained("someone/vggt-tiny", cache_dir=tmp_path / "cache", local_files_only=True)
    _outputs_equal(tiny_model, loaded)


def test_official_hub_config_with_pt_only(tmp_path: Path) -> None:
    """The official repo layout: a 3-field config.json and model.pt."""
    config = VGGTConfig.from_preset("tiny")
    model = VGGT(config).eval()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    _populate_hub_cache(
        tmp_path / "cache",
        "facebook/VGGT-tiny",
        {"model.pt": (tmp_path / "model.pt").read_bytes(), "config.json": b'{"img_size": 518, "patch_size": 14, "embed_dim": 1024}'},
    )
    # the official config names only the width: with tiny weights the key check must fail loudly
    with pytest.raises(ValueError, match="shape mismatches"):
        VGGT.from_pretrained("facebook/VGGT-tiny", cache_dir=tmp_path / "cache", local_files_only=True)
    loaded = VGGT.from_pretrained(
        "facebook/VGGT-tiny", cache_dir=tmp_path / "cache", local_files_only=True, config=config
    )
    _outputs_equal(model, loaded)


def test_not_cached_offline_error_names_repo(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotAvailableError) as info:
        VGGT.from_pretrained("facebook/VGGT-1B", cache_dir=tmp_path / "empty", local_files_only=True)
    message = str(info.value)
    assert "facebook/VGGT-1B" in message and "local folder" in message and "download" in message


def test_push_to_hub_uploads_saved_folder(tiny_model: VGGT, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, object] = {}

    class FakeApi:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, private=False, exist_ok=False):
            calls["create"] = (repo_id, private, exist_ok)

        def upload_folder(self, repo_id, folder_path, **kwargs):
            calls["files"] = sorted(p.name for p in Path(folder_path).iterdir())
            return type("Commit", (), {"commit_url": f"https://hub/{repo_id}/commit/1"})()

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    url = tiny_model.push_to_hub("me/tiny", private=True, token="t")
    assert url == "https://hub/me/tiny/commit/1"
    assert calls["create"] == ("me/tiny", True, True)
    assert calls["files"] == ["README.md", "config.json", "model.safetensors"]
