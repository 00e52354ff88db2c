"""TrainConfig: YAML loading, typed overrides, validation, round trip, the shipped example configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from vggt_py.training.config import (
    TrainConfig,
    apply_overrides,
    available_recipes,
    deep_merge,
    resolve_config_file,
)

REPO = Path(__file__).resolve().parents[2]


def test_defaults_follow_the_reference_recipe():
    config = TrainConfig()
    assert config.optim.lr == 5e-5 and config.optim.weight_decay == 0.05 and config.optim.clip_grad_norm == 1.0
    assert config.loss.camera_weight == 5.0 and config.loss.track_weight == 0.05
    assert config.data.frames == (2, 24) and config.data.aspect_range == (0.33, 1.0)


def test_yaml_and_typed_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  lr: 0.001\ntrain:\n  max_epochs: 3\n")
    config = TrainConfig.from_yaml(
        path,
        [
            "optim.lr=1e-4",
            "data.frames=[3, 5]",
            "train.freeze=aggregator*",
            "train.resume=null",
            "data.depth_percentile=95",
            "lora.enabled=true",
            "train.checkpoint_every=10",
        ],
    )
    assert config.optim.lr == 1e-4 and isinstance(config.optim.lr, float)  # YAML 1.1 reads "1e-4" as text
    assert config.train.max_epochs == 3
    assert config.data.frames == (3, 5)
    assert config.train.freeze == ["aggregator*"]
    assert config.train.resume is None
    assert config.data.depth_percentile == 95.0 and isinstance(config.data.depth_percentile, float)
    assert config.lora.enabled is True and config.train.checkpoint_every == 10


def test_round_trip(tmp_path):
    config = TrainConfig.from_dict({}, ["data.augmentation.hue=0.05", "train.freeze=[a*, b*]"])
    text = config.to_yaml(tmp_path / "saved.yaml")
    assert TrainConfig.from_yaml(tmp_path / "saved.yaml") == config
    assert "hue: 0.05" in text


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["optim.lrr=1"], r"unknown key\(s\) \['optim.lrr'\].*valid: \["),
        (["nosection.a=1"], r"unknown key\(s\) \['nosection'\]"),
        (["train.max_epochs=two"], "train.max_epochs: expected int"),
        (["train.amp=3"], "train.amp: expected bool"),
        (["data.frames=[1, 2, 3]"], "data.frames: expected 2 values"),
        (["train.strategy=zero"], r"train.strategy: expected one of \['ddp', 'fsdp'\]"),
        (["data.frames=[5, 2]"], "data.frames must satisfy"),
        (["optim.lr=-1"], "lr > 0"),
        (["data.source=folder"], "data.train_path is required"),
        (["optim"], "expected key.sub=value"),
        (["optim.lr=[unclosed"], "not valid YAML"),
        (["optim.lr.x=1"], "optim.lr: expected float"),
    ],
)
def test_bad_values_are_rejected(overrides, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig.from_dict({}, overrides)


def test_override_into_a_value():
    with pytest.raises(ValueError, match="'lr' is not a section"):
        TrainConfig.from_dict({"optim": {"lr": 1.0}}, ["optim.lr.x=1"])


def test_bad_files(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        TrainConfig.from_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [1, 2\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        TrainConfig.from_yaml(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        TrainConfig.from_yaml(bad)
    bad.write_text("optim: 3\n")
    with pytest.raises(ValueError, match=r"bad.yaml: optim: expected a section"):
        TrainConfig.from_yaml(bad)


def test_merge_helpers():
    base = {"a": {"b": 1, "c": 2}, "d": 3}
    assert deep_merge(base, {"a": {"b": 5}, "e": 1}) == {"a": {"b": 5, "c": 2}, "d": 3, "e": 1}
    assert apply_overrides(base, ["a.c=[1, 2]", "f.g=x"]) == {"a": {"b": 1, "c": [1, 2]}, "d": 3, "f": {"g": "x"}}
    assert base == {"a": {"b": 1, "c": 2}, "d": 3}


def test_the_shipped_recipes_load_by_name_from_any_folder(tmp_path, monkeypatch):
    """``recipe:NAME`` finds the recipes inside the package (they lived in the repository's configs/, which
    only a checkout's root could reach)."""
    monkeypatch.chdir(tmp_path)
    names = available_recipes()
    assert names == ["bundled_small_stage1", "bundled_small_stage2", "finetune_vggt1b", "tiny_synthetic"]
    for name in names:
        path = resolve_config_file(f"recipe:{name}")
        assert path.is_file() and path.parent == REPO / "vggt_py" / "assets" / "recipes"
        config = TrainConfig.from_yaml(f"recipe:{name}")
        assert config.train.output_dir.startswith("runs/")
    assert resolve_config_file("tiny_synthetic") == resolve_config_file("recipe:tiny_synthetic.yaml")
    assert TrainConfig.from_yaml("recipe:bundled_small_stage2").model.preset == "small"
    with pytest.raises(FileNotFoundError, match=r"no training recipe named 'tiny'; shipped recipes: recipe:bundled"):
        resolve_config_file("recipe:tiny")
    with pytest.raises(FileNotFoundError, match=r"recipe named '../x'"):
        resolve_config_file("recipe:../x")
    with pytest.raises(FileNotFoundError, match=r"config file not found: configs/tiny_synthetic.yaml; to use the "
                       r"shipped recipe of that name, pass recipe:tiny_synthetic"):
        resolve_config_file("configs/tiny_synthetic.yaml")
    (tmp_path / "tiny_synthetic").write_text("optim:\n  lr: 0.5\n")  # a file of that name wins over the recipe
    assert resolve_config_file("tiny_synthetic") == Path("tiny_synthetic")


def test_the_model_section_names_one_architecture():
    """A preset applies only when nothing else names the model; with init it is left unset (was: 'tiny')."""
    assert TrainConfig().model.preset == "tiny"
    assert TrainConfig.from_dict({"model": {"init": "bundled"}}).model.preset is None
    assert TrainConfig.from_dict({"model": {"config": "m.json"}}).model.preset is None
    assert TrainConfig.from_dict({"model": {"preset": "small", "init": "bundled"}}).model.preset == "small"
    with pytest.raises(ValueError, match=r"model.preset: unknown preset 'huge'; available: \['small', 'tiny'"):
        TrainConfig.from_dict({"model": {"preset": "huge"}})


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "research").glob("*.yaml")), ids=lambda p: p.name)
def test_research_configs_load(path):
    """The issue-15 research recipes parse, and their model files exist and build."""
    from vggt_py.config import VGGTConfig

    config = TrainConfig.from_yaml(path)
    assert config.train.output_dir.startswith("runs/research/")
    VGGTConfig.from_json(REPO / config.model.config)

