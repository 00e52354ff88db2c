"""``vggt-py train`` and ``vggt-py finetune``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from vggt_py.cli import main
from vggt_py.data.scene_folder import write_scene_folder
from vggt_py.data.synthetic import SceneConfig, generate_scene

# the training tests' fixtures: a micro VGGT, small configs, one thread
from training.conftest import _one_thread, make_config, micro_config, micro_config_file, micro_model  # noqa: F401


def test_train_runs_a_config_with_overrides(make_config, micro_config_file, tmp_path, capsys):
    config = make_config(model={"config": str(micro_config_file)})
    path = tmp_path / "run.yaml"
    config.to_yaml(path)
    out = tmp_path / "cli_run"
    assert (
        main(["train", str(path), f"train.output_dir={out}", "data.batches_per_epoch=2", "train.save_final=true"]) == 0
    )
    assert (out / "checkpoints" / "last.pt").is_file()
    assert (out / "final" / "model.safetensors").is_file()
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
    assert "done" in capsys.readouterr().out


def test_train_print_config(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  lr: 0.01\n")
    assert main(["train", str(path), "train.max_epochs=7", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["optim"]["lr"] == 0.01 and printed["train"]["max_epochs"] == 7


def test_train_errors(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  lr: 0.01\n")
    assert main(["train", str(path), "optim.learning_rate=1"]) == 2
    assert "unknown key(s) ['optim.learning_rate']" in capsys.readouterr().err


def test_finetune_builds_the_reference_recipe(tmp_path, capsys):
    assert main(["finetune", str(tmp_path), "--init", "weights/", "--print-config"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["init"] == "weights/"
    assert config["data"]["source"] == "auto" and config["data"]["train_path"] == str(tmp_path)
    assert config["train"]["freeze"] == ["aggregator*"]
    assert config["loss"]["point_weight"] == 0.0 and config["loss"]["track_weight"] == 0.0

    base = tmp_path / "base.yaml"
    base.write_text("optim:\n  lr: 0.002\ntrain:\n  max_epochs: 9\n")
    argv = [
        "finetune",
        str(tmp_path),
        "--config",
        str(base),
        "--freeze",
        "none",
        "--lr",
        "1e-4",
        "--lora",
        "--set",
        "train.max_epochs=3",
        "--print-config",
    ]
    assert main(argv) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["optim"]["lr"] == 1e-4 and config["train"]["max_epochs"] == 3
    assert config["train"]["freeze"] == [] and config["lora"]["enabled"] is True
    assert config["model"]["init"] == "facebook/VGGT-1B"


def test_finetune_on_scene_folders(micro_model, tmp_path):
    """End to end: a saved micro model fine-tuned on two scene folders, heads only."""
    init = tmp_path / "init"
    micro_model.save_pretrained(init)
    scenes = tmp_path / "scenes"
    for seed in range(2):
        scene = generate_scene(SceneConfig.preset("easy", num_frames=3, height=28, width=28, num_tracks=0), seed)
        write_scene_folder(scene, scenes / f"scene_{seed}")
    out = tmp_path / "ft"
    argv = [
        "finetune",
        str(scenes),
        "--init",
        str(init),
        "--output",
        str(out),
        "--epochs",
        "1",
        "--set",
        "data.max_side=28",
        "--set",
        "data.frames=[2,2]",
        "--set",
        "data.images_per_batch=4",
        "--set",
        "train.progress=false",
        "--set",
        "train.tensorboard=false",
    ]
    assert main(argv) == 0
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 1 and np.isfinite(metrics[0]["loss"]) and "loss_point" not in metrics[0]


def test_finetune_errors(tmp_path, capsys):
    assert main(["finetune", str(tmp_path / "nope")]) == 2
    assert "DATA must be a folder" in capsys.readouterr().err
    assert main(["finetune", str(tmp_path), "--init", str(tmp_path / "nothing"), "--epochs", "1"]) == 2
    assert "no scenes found" in capsys.readouterr().err
    scene = generate_scene(SceneConfig.preset("easy", num_frames=2, height=28, width=28, num_tracks=0), 0)
    write_scene_folder(scene, tmp_path / "scene")
    assert main(["finetune", str(tmp_path), "--init", str(tmp_path / "nothing"), "--epochs", "1"]) == 2
    assert "nothing: no such file or folder" in capsys.readouterr().err


def test_the_command_line_does_not_import_the_trainer():
    """``vggt-py --help`` stays fast: registering the commands leaves the trainer unimported."""
    code = (
        "import sys, vggt_py.cli as cli; cli.build_parser(); "
        "import vggt_py.training as t; assert 'vggt_py.training.trainer' not in sys.modules; "
        "assert all(getattr(t, name) for name in t.__all__)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_finetune_print_config_shows_the_model_it_trains(tmp_path, capsys):
    """--init bundled trains the bundled 'small' model: the printed config says so (it said preset: tiny)."""
    assert main(["finetune", str(tmp_path), "--init", "bundled", "--print-config"]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("# model: the weights of 'bundled' (") and "preset 'small', 5,738,808 parameters" in first
    config = yaml.safe_load(out)
    assert config["model"]["preset"] is None and config["model"]["init"] == "bundled"
    base = tmp_path / "base.yaml"  # a --config base naming a preset: --init replaces it
    base.write_text("model:\n  preset: tiny\n")
    assert main(["finetune", str(tmp_path), "--config", str(base), "--init", "bundled", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["model"]["preset"] is None
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  preset: tiny\n")
    assert main(["train", str(path), "--print-config"]) == 0
    assert capsys.readouterr().out.startswith("# model: random initialisation of preset 'tiny', ")


def test_a_preset_that_contradicts_the_weights_is_refused(tmp_path, capsys):
    from vggt_py.training.config import ModelConfig
    from vggt_py.training.trainer import build_model

    model = build_model(ModelConfig(preset="small", init="bundled"))  # consistent: accepted
    assert model.config.embed_dim == 128
    with pytest.raises(ValueError, match=r"model.preset 'tiny' is not the architecture of model.init 'bundled' "
                       r"\(they differ in .*embed_dim.*\); the weights decide the model, so set model.preset=small"):
        build_model(ModelConfig(preset="tiny", init="bundled"))


def test_a_training_checkpoint_loads_as_a_model(make_config, micro_config_file, tmp_path, capsys):
    """checkpoints/last.pt given as a model builds its own architecture from the config stored inside
    (it was read as VGGT-1B and failed with a list of 1,378 missing keys)."""
    import shutil

    import torch

    from vggt_py import VGGT
    from vggt_py.training.trainer import Trainer

    with Trainer(make_config(model={"config": str(micro_config_file)})) as trainer:
        trainer.fit(max_steps=1)
        trained = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        config = trainer.model.config
    elsewhere = tmp_path / "copied" / "last.pt"  # no config.json anywhere near it
    elsewhere.parent.mkdir()
    shutil.copyfile(trainer.checkpoint_dir / "last.pt", elsewhere)
    loaded = VGGT.from_pretrained(elsewhere)
    assert loaded.config == config
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in trained.items())
    assert main(["info", "--model", str(elsewhere), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"from the training checkpoint {elsewhere}" in out
    assert f"{sum(p.numel() for p in loaded.parameters()):,} (" in out

    # a checkpoint written before model_config was stored: rebuilt from the run's model section
    payload = torch.load(elsewhere, weights_only=True)
    del payload["model_config"]
    torch.save(payload, tmp_path / "old.pt")
    assert VGGT.from_pretrained(tmp_path / "old.pt").config == config
    payload["config"]["model"] = {"preset": None, "config": None, "init": str(tmp_path / "gone")}
    torch.save(payload, tmp_path / "orphan.pt")
    with pytest.raises(ValueError, match=r"written before checkpoints stored their model config, and the config.json "
                       r"of its model.init '.*gone', which is not available locally; write the model's config.json"):
        VGGT.from_pretrained(tmp_path / "orphan.pt")
    payload["config"]["lora"]["enabled"] = True
    torch.save(payload, tmp_path / "lora.pt")
    with pytest.raises(ValueError, match=r"checkpoint of a LoRA run.*Load the run's final model \(.*/run/final"):
        VGGT.from_pretrained(tmp_path / "lora.pt")


def test_weights_without_a_config_say_what_was_assumed(micro_model, tmp_path):
    import torch

    from vggt_py import VGGT

    torch.save(micro_model.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ValueError, match=r"there is no config.json beside weights.pt, so the VGGT-1B architecture "
                       r"was assumed; put the model's config.json next to the weights"):
        VGGT.from_pretrained(tmp_path / "weights.pt")
    micro_model.config.to_json(tmp_path / "config.json")
    assert VGGT.from_pretrained(tmp_path / "weights.pt").config == micro_model.config


def test_train_takes_a_shipped_recipe_from_another_folder(tmp_path, monkeypatch, capsys):
    """The README's ``vggt-py train recipe:tiny_synthetic`` works outside the repository."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", "recipe:tiny_synthetic", "train.max_epochs=1", "--print-config"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["data"]["source"] == "synthetic" and config["train"]["max_epochs"] == 1
    base = "recipe:finetune_vggt1b"
    assert main(["finetune", str(tmp_path), "--config", base, "--init", "bundled", "--print-config"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["data"]["max_side"] == 518 and config["model"]["init"] == "bundled"
    assert main(["train", "configs/tiny_synthetic.yaml"]) == 2
    assert "pass recipe:tiny_synthetic" in capsys.readouterr().err
    from vggt_py.training.config import available_recipes

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    train_help = " ".join(capsys.readouterr().out.split())
    assert all(f"recipe:{name}" in train_help for name in available_recipes())  # the help lists every recipe
