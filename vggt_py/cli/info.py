"""``vggt-py info``: the model (without loading its weights), the device, versions and how many frames fit."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import NamedTuple

import torch

from vggt_py.cli.common import CLIError, add_model_arguments, escape, human_bytes, make_console, resolve_device
from vggt_py.config import VGGTConfig
from vggt_py.inference.memory import available_memory, estimate_memory, frames_that_fit, typical_frame_size

__all__ = ["register", "run_info"]


class _ModelInfo(NamedTuple):
    config: VGGTConfig
    config_note: str
    weights: str


def _describe_model(spec: str, offline: bool) -> _ModelInfo:
    """The model's config and where its weights are, without loading (or downloading) the weights."""
    from vggt_py.bundled import bundled_model_dir, parse_bundled_spec
    from vggt_py.hub import WeightsNotAvailableError, resolve_pretrained, weights_file_config
    from vggt_py.inference.api import hub_reachable

    def read_config(path: Path | None, note: str) -> tuple[VGGTConfig, str]:
        if path is None:
            return VGGTConfig(), "no config.json; the VGGT-1B default"
        try:
            return VGGTConfig.from_json(path), note
        except (OSError, ValueError) as err:
            raise CLIError(f"--model {spec}: {err}") from err

    bundled = parse_bundled_spec(spec)
    try:
        local = bundled_model_dir(bundled) if bundled is not None else Path(os.path.expanduser(spec))
    except FileNotFoundError as err:
        raise CLIError(f"--model {spec}: {err}") from err
    if local.exists():
        try:
            config_path, weights = resolve_pretrained(local)
            embedded = weights_file_config(weights)
        except (FileNotFoundError, ValueError) as err:
            raise CLIError(f"--model {spec}: {err}") from err
        if embedded is not None:
            config, note = embedded, f"from the training checkpoint {weights}"
        else:
            config, note = read_config(config_path, str(config_path))
        return _ModelInfo(config, note, f"{weights} ({human_bytes(weights.stat().st_size)})")
    try:
        config_path, weights = resolve_pretrained(spec, local_files_only=True)
        config, note = read_config(config_path, f"{spec} (cached)")
        return _ModelInfo(config, note, f"{weights} (in the local cache)")
    except FileNotFoundError as err:
        if not isinstance(err, WeightsNotAvailableError):
            raise CLIError(f"--model {spec}: {err}") from err
    status = "not in the local cache; downloaded on first use" + (" (needs a network)" if offline else "")
    if offline:
        return _ModelInfo(VGGTConfig(), "not cached; showing the VGGT-1B default", status)
    if not hub_reachable():
        status = "not in the local cache, and the Hugging Face hub cannot be reached"
        return _ModelInfo(VGGTConfig(), "hub unreachable; showing the VGGT-1B default", status)
    try:
        from huggingface_hub import hf_hub_download

        config, note = read_config(Path(hf_hub_download(spec, "config.json")), f"{spec} (hub)")
    except Exception as err:  # any hub failure: show the default architecture instead
        config, note = VGGTConfig(), f"config.json unavailable ({type(err).__name__}); the VGGT-1B default"
    return _ModelInfo(config, note, status)


def _info_spec(args: argparse.Namespace) -> tuple[str, str]:
    """(model to describe, note): ``--model``, else the model a command would use by default."""
    from vggt_py.inference.api import resolve_default_model

    if args.model is not None:
        return args.model, ""
    choice = resolve_default_model(offline=args.offline)
    if choice.is_fallback:
        return choice.spec, f" (used instead of the default, which is not available: {choice.fallback_reason})"
    return choice.spec, " (the default)"


def _bundled_models_text() -> str:
    from vggt_py.bundled import BUNDLED_MODEL, available_bundled_models, bundled_model_dir, bundled_spec

    names = available_bundled_models()
    if not names:
        return "none (the package's assets/models folder holds no model)"
    return "; ".join(
        f"{bundled_spec(name)} at {bundled_model_dir(name)}"
        + (" (--model bundled; the fallback when the default is not available)" if name == BUNDLED_MODEL else "")
        for name in names
    )


def _parameter_counts(config: VGGTConfig) -> dict[str, int]:
    from vggt_py.model import VGGT

    with torch.device("meta"):
        net = VGGT(config)
    counts = {name: sum(p.numel() for p in module.parameters()) for name, module in net.named_children()}
    return {name: count for name, count in counts.items() if count}


def run_info(args: argparse.Namespace) -> int:
    from rich.table import Table

    import vggt_py
    from vggt_py.inference.api import autocast_dtype

    device = resolve_device(args.device)
    spec, spec_note = _info_spec(args)
    described = _describe_model(spec, args.offline)
    config = described.config
    counts = _parameter_counts(config)
    params = sum(counts.values())
    heads = [
        name for name in ("camera_head", "depth_head", "point_head", "track_head") if getattr(config, name).enabled
    ]

    model_table = Table(title="model", show_header=False)
    model_table.add_column(style="bold")
    model_table.add_column()
    model_table.add_row("model", escape(spec + spec_note))
    model_table.add_row("config", escape(described.config_note))
    model_table.add_row("weights", escape(described.weights))
    model_table.add_row(
        "architecture",
        f"img_size {config.img_size}, patch {config.patch_size}, width {config.embed_dim}, "
        f"{config.aggregator.depth} frame+global blocks ({config.aggregator.num_heads} heads), "
        f"patch embedding {config.patch_embed.type}"
        + (f" ({config.patch_embed.depth} blocks)" if config.patch_embed.type == "dinov2" else ""),
    )
    model_table.add_row("heads", ", ".join(heads) or "none")
    model_table.add_row("parameters", f"{params:,} (" + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + ")")
    model_table.add_row("bundled models", escape(_bundled_models_text()))

    compute = autocast_dtype(device, "auto")
    free = available_memory(device)
    chunk = config.depth_head.frames_chunk_size
    height, width = typical_frame_size(config)  # the model's own input size, not VGGT-1B's
    estimate = estimate_memory(
        config, max(chunk or 1, 1), height, width, compute_dtype=compute, frames_chunk_size=chunk, num_params=params
    )
    fit = frames_that_fit(
        config, free, height, width, compute_dtype=compute, frames_chunk_size=chunk, num_params=params
    )
    runtime = Table(title="runtime", show_header=False)
    runtime.add_column(style="bold")
    runtime.add_column()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    runtime.add_row("device", f"{device} ({name}), compute dtype {str(compute).replace('torch.', '')}")
    runtime.add_row("versions", f"vggt-py {vggt_py.__version__}, torch {torch.__version__}")
    source = "free CUDA memory" if device.type == "cuda" else "MemAvailable, /proc/meminfo"
    runtime.add_row("available memory", f"{human_bytes(free)} ({source})")
    per_frame = max(estimate.aggregator_per_frame, estimate.heads_per_frame)
    runtime.add_row(
        f"frames at {width}x{height}",
        f"about {fit} (weights {human_bytes(estimate.weights)}, ~{human_bytes(per_frame)} per frame, "
        f"dense heads ~{human_bytes(estimate.dense_per_frame)} per frame of a chunk of {chunk or 'all'}; "
        "memory model in vggt_py.inference.memory)",
    )
    console = make_console()
    console.print(model_table)
    console.print(runtime)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vggt-py info``."""
    parser = subparsers.add_parser(
        "info",
        help="model, device, versions and how many frames fit in memory",
        description=(
            "Show the model's configuration, parameter count and heads (without loading its weights), the device, "
            "the torch version and an estimate of how many frames fit in memory, at the model's own input size "
            "(a 4:3 photo in crop mode: 518x392 for VGGT-1B, 224x168 for the bundled model)."
        ),
    )
    add_model_arguments(parser)
    parser.set_defaults(func=run_info)
