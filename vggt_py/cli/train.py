"""``vggt-py train CONFIG.yaml [key=value ...]`` and ``vggt-py finetune DATA --init ... --freeze ...``.

Both run :class:`~vggt_py.training.trainer.Trainer`; under ``torchrun`` they train data-parallel::

    torchrun --nproc-per-node=8 -m vggt_py.cli train recipe:finetune_vggt1b train.output_dir=runs/a
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vggt_py.cli.common import CLIError

if TYPE_CHECKING:
    from vggt_py.training.config import TrainConfig

__all__ = ["finetune_config", "register", "run_finetune", "run_train"]

_TRAIN_EPILOG = """\
Overrides use dotted keys and YAML values, for example:
  optim.lr=1e-4  train.freeze=[aggregator*]  data.frames=[2,8]  train.resume=null
Put them right after CONFIG (before any --option).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vggt-py train`` and ``vggt-py finetune``."""
    train = subparsers.add_parser(
        "train",
        help="train or fine-tune VGGT as described by a YAML config",
        description=(
            "Train VGGT from a YAML training config; resumes from output_dir by default. Recipes shipped with "
            "vggt-py work from any folder: recipe:tiny_synthetic (CPU-sized, from scratch), recipe:finetune_vggt1b, "
            "recipe:bundled_small_stage1 and recipe:bundled_small_stage2 (the bundled model)."
        ),
        epilog=_TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "config", metavar="CONFIG", help="training config: a YAML file, or recipe:NAME for a recipe shipped with vggt-py"
    )
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    train.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    train.set_defaults(func=run_train)

    finetune = subparsers.add_parser(
        "finetune",
        help="fine-tune a pretrained VGGT on scene folders or COLMAP scenes",
        description=(
            "Fine-tune pretrained VGGT weights on your scenes: scene folders (cameras.json) or COLMAP scenes "
            "(sparse/ + images/), either DATA itself or its sub-folders. By default the aggregator is frozen "
            "and the camera and depth heads are trained (the reference fine-tuning recipe)."
        ),
    )
    finetune.add_argument("data", type=Path, metavar="DATA", help="training scenes")
    finetune.add_argument("--init", help="pretrained weights: hub repo id, folder or file (default: facebook/VGGT-1B)")
    finetune.add_argument(
        "--freeze",
        action="append",
        metavar="PATTERN",
        help="freeze modules matching this glob (repeatable; default: aggregator*; 'none' trains everything)",
    )
    finetune.add_argument("--val", type=Path, metavar="DIR", help="validation scenes")
    finetune.add_argument("--output", type=Path, help="output folder (default: runs/finetune)")
    finetune.add_argument("--epochs", type=int, help="epochs (default: the config's, 20)")
    finetune.add_argument("--lr", type=float, help="peak learning rate (default 5e-5)")
    finetune.add_argument("--lora", action="store_true", help="train LoRA adapters in the aggregator (needs peft)")
    finetune.add_argument(
        "--config", metavar="YAML", help="base training config to start from (a file, or recipe:NAME)"
    )
    finetune.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)"
    )
    finetune.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    finetune.set_defaults(func=run_finetune)


def _setup_logging() -> None:
    rank = os.environ.get("RANK", "0")
    logging.basicConfig(
        level=logging.INFO if rank == "0" else logging.WARNING,
        format=f"%(asctime)s [rank {rank}] %(message)s",
        datefmt="%H:%M:%S",
    )


def _run(config: TrainConfig, print_only: bool) -> int:
    if print_only:
        from vggt_py.training.trainer import describe_model

        print(f"# {describe_model(config.model)}")
        print(config.to_yaml(), end="")
        return 0
    from vggt_py.training.trainer import Trainer

    _setup_logging()
    try:
        with Trainer(config) as trainer:
            trainer.fit()
            main_process = trainer.context.is_main
    except (ValueError, ImportError, FileNotFoundError) as err:
        raise CLIError(str(err)) from err
    if main_process:
        print(f"done: checkpoints and logs in {config.train.output_dir}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from vggt_py.training.config import TrainConfig, resolve_config_file

    try:
        path = resolve_config_file(args.config)
    except FileNotFoundError as err:
        raise CLIError(str(err)) from err
    try:
        config = TrainConfig.from_yaml(path, args.overrides)
    except (ValueError, ImportError) as err:
        raise CLIError(str(err)) from err
    return _run(config, args.print_config)


def finetune_config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of ``vggt-py finetune``: fine-tuning defaults < ``--config`` < options < ``--set``."""
    from vggt_py.training.config import TrainConfig, deep_merge

    defaults: dict[str, Any] = {
        "model": {"init": "facebook/VGGT-1B"},
        "data": {"source": "auto"},
        "loss": {"point_weight": 0.0, "track_weight": 0.0},
        "train": {"output_dir": "runs/finetune", "freeze": ["aggregator*"]},
    }
    if args.config is not None:
        defaults = deep_merge(defaults, _read_yaml(args.config))
    options: dict[str, dict[str, Any]] = {"model": {}, "data": {"train_path": str(args.data)}, "train": {}}
    if args.init is not None:  # the weights decide the architecture: no preset of a --config base applies
        options["model"].update(init=args.init, preset=None)
    if args.output is not None:
        options["train"]["output_dir"] = str(args.output)
    if args.val is not None:
        options["data"]["val_path"] = str(args.val)
    if args.freeze:
        options["train"]["freeze"] = [] if [p.lower() for p in args.freeze] == ["none"] else list(args.freeze)
    if args.epochs is not None:
        options["train"]["max_epochs"] = args.epochs
    if args.lr is not None:
        options["optim"] = {"lr": args.lr}
    if args.lora:
        options["lora"] = {"enabled": True}
    return TrainConfig.from_dict(deep_merge(defaults, options), args.set)


def run_finetune(args: argparse.Namespace) -> int:
    if not args.data.is_dir():
        raise CLIError(f"DATA must be a folder of scenes, got {args.data}")
    try:
        config = finetune_config(args)
    except (ValueError, ImportError) as err:
        raise CLIError(str(err)) from err
    return _run(config, args.print_config)


def _read_yaml(spec: str) -> dict[str, Any]:
    import yaml

    from vggt_py.training.config import resolve_config_file

    try:
        path = resolve_config_file(spec)
    except FileNotFoundError as err:
        raise CLIError(str(err)) from err
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as err:
        raise CLIError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise CLIError(f"{path}: a training config must be a mapping, got {type(data).__name__}")
    return data
