"""``vggt-py train`` and ``vggt-py finetune``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
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
