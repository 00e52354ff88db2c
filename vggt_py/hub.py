"""Loading and saving VGGT weights: hub repos, local folders, single files, bundled models.

Weights are read with safetensors or ``torch.load(weights_only=True)``; nothing is unpickled
beyond tensors. Hub access goes through ``huggingface_hub``, so its cache, ``HF_HUB_OFFLINE``,
``HF_HOME`` and tokens behave as everywhere else.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vggt_py.bundled import bundled_model_dir, parse_bundled_spec
from vggt_py.config import VGGTConfig
from vggt_py.convert import convert_state_dict, unwrap_checkpoint
from vggt_py.errors import InputError, ModelUnavailableError
from vggt_py.utils.io import atomic_path, atomic_write_text

__all__ = [
    "PretrainedMixin",
    "TRAINING_CHECKPOINT_FORMAT",
    "WEIGHT_FILES",
    "WeightsFileError",
    "WeightsNotAvailableError",
    "check_weights",
    "load_pretrained",
    "load_state_dict_strict",
    "load_weights_file",
    "push_to_hub",
    "resolve_pretrained",
    "save_pretrained",
    "training_checkpoint_config",
    "weights_file_config",
]

CONFIG_FILE = "config.json"
# The ``format`` entry of the training checkpoints of vggt_py.training (their model config is stored inside).
TRAINING_CHECKPOINT_FORMAT = "vggt_py.training/1"
# Looked for in this order in a folder or a hub repo.
WEIGHT_FILES = ("model.safetensors", "model.pt", "pytorch_model.bin")


class WeightsNotAvailableError(ModelUnavailableError):
    """The weights could not be found locally and could not be downloaded."""


class WeightsFileError(InputError):
    """A weights file that cannot be used: corrupt, truncated, empty, integer or non-finite tensors."""


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.sep in name.replace("/", "", 1) or name.count("/") != 1


def resolve_pretrained(
    repo_id_or_path: str | os.PathLike[str],
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> tuple[Path | None, Path]:
    """Find ``(config.json or None, weights file)`` for a folder, a file, a hub repo id or a bundled model.

    ``"bundled"`` and ``"bundled:NAME"`` name a model shipped with the package (:mod:`vggt_py.bundled`).
    """
    bundled = parse_bundled_spec(repo_id_or_path)
    if bundled is not None:
        repo_id_or_path = bundled_model_dir(bundled)
    path = Path(os.path.expanduser(str(repo_id_or_path)))
    if path.is_file():
        config = path.parent / CONFIG_FILE
        return (config if config.is_file() else None), path
    if path.is_dir():
        for name in WEIGHT_FILES:
            if (path / name).is_file():
                config = path / CONFIG_FILE
                return (config if config.is_file() else None), path / name
        raise FileNotFoundError(f"{path}: no weights file found; expected one of {list(WEIGHT_FILES)}")
    name = str(repo_id_or_path)
    if _looks_like_path(name):
        raise FileNotFoundError(f"{name}: no such file or folder (nor a hub repo id of the form 'owner/name')")
    return _download(name, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)


def _download(
    repo_id: str,
    *,
    revision: str | None,
    cache_dir: str | os.PathLike[str] | None,
    local_files_only: bool,
    token: str | bool | None,
) -> tuple[Path | None, Path]:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    unavailable_offline = False

    def fetch(filename: str) -> Path | None:
        nonlocal unavailable_offline
        try:
            return Path(
                hf_hub_download(
                    repo_id,
                    filename,
                    revision=revision,
                    cache_dir=cache_dir,
                    local_files_only=local_files_only,
                    token=token,
                )
            )
        except LocalEntryNotFoundError:  # not cached, and the hub cannot be asked
            unavailable_offline = True
            return None
        except EntryNotFoundError:  # the hub says the repo has no such file
            return None

    try:
        weights = next((path for path in map(fetch, WEIGHT_FILES) if path is not None), None)
        config = fetch(CONFIG_FILE) if weights is not None else None
    except (RepositoryNotFoundError, RevisionNotFoundError) as err:
        raise WeightsNotAvailableError(f"hub repo '{repo_id}' (revision {revision or 'main'}) not found: {err}") from err
    if weights is None and unavailable_offline:
        raise WeightsNotAvailableError(
            f"the weights of '{repo_id}' are not available: the hub cannot be reached (offline, or "
            f"HF_HUB_OFFLINE=1) and they are not in the local Hugging Face cache. Download them once on a "
            f"connected machine (`hf download {repo_id}` or `huggingface-cli download {repo_id}`; copy the "
            f"cache folder along), or pass a local folder or weights file instead of the repo id."
        )
    if weights is None:
        raise WeightsNotAvailableError(f"hub repo '{repo_id}' holds none of the weight files {list(WEIGHT_FILES)}")
    return config, weights


def load_weights_file(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` file or a ``.pt``/``.pth``/``.bin`` checkpoint (tensors only)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            size = path.stat().st_size
            if size == 0:
                raise WeightsFileError(f"{path}: the weights file is empty (0 bytes); expected a safetensors file")
            return load_file(str(path), device=str(device))
        except WeightsFileError:
            raise
        except Exception as err:  # SafetensorError, OSError, header JSON errors: no file name in them
            raise WeightsFileError(
                f"{path}: not a readable safetensors file ({size:,} bytes; {str(err).strip() or type(err).__name__}); "
                "it may be truncated or corrupt; expected a file written by safetensors (VGGT.save_pretrained)"
            ) from err
    return unwrap_checkpoint(_load_torch_file(path, device))


def _load_torch_file(path: Path, device: torch.device | str = "cpu", mmap: bool = False) -> Any:
    try:
        return torch.load(path, map_location=device, weights_only=True, mmap=mmap)
    except Exception as err:  # pickle errors carry no file name
        raise ValueError(f"{path}: cannot read as a weights-only torch checkpoint ({err})") from err


def training_checkpoint_config(checkpoint: Any, path: str | os.PathLike[str]) -> VGGTConfig | None:
    """The model config of a loaded training checkpoint (``vggt-py train``'s ``checkpoints/*.pt``), or None
    for any other object.

    Checkpoints store the config as ``model_config``; older ones only the run's ``model`` section, from
    which it is rebuilt (``config`` file, else ``init``'s local ``config.json``, else ``preset``).

    Raises:
        ValueError: for a LoRA run's checkpoint (its adapters are not merged; load ``OUTPUT/final``), or
            one whose model config cannot be found, saying what to pass instead.
    """
    if not (isinstance(checkpoint, Mapping) and checkpoint.get("format") == TRAINING_CHECKPOINT_FORMAT):
        return None
    run = checkpoint.get("config") if isinstance(checkpoint.get("config"), Mapping) else {}
    output = (run.get("train") or {}).get("output_dir", "OUTPUT")
    if (run.get("lora") or {}).get("enabled"):
        raise ValueError(
            f"{path} is a checkpoint of a LoRA run: its adapters are not merged into the weights. Load the "
            f"run's final model ({output}/final, written with the adapters merged) instead"
        )
    stored = checkpoint.get("model_config")
    if isinstance(stored, Mapping):
        return VGGTConfig.from_dict(dict(stored))
    model = run.get("model") or {}
    if model.get("config"):
        if Path(model["config"]).is_file():
            return VGGTConfig.from_json(model["config"])
        missing = f"its model.config file {model['config']!r}, which is not there"
    elif model.get("init"):
        try:
            config_path, _ = resolve_pretrained(model["init"], local_files_only=True)
        except (FileNotFoundError, ValueError):
            config_path = None
        if config_path is not None:
            return VGGTConfig.from_json(config_path)
        missing = f"the config.json of its model.init {model['init']!r}, which is not available locally"
    elif model.get("preset"):
        return VGGTConfig.from_preset(model["preset"])
    else:
        missing = "a model section"
    raise ValueError(
        f"{path} is a training checkpoint written before checkpoints stored their model config, and "
        f"{missing}; write the model's config.json next to it, or load the run's final model ({output}/final)"
    )


def weights_file_config(path: str | os.PathLike[str]) -> VGGTConfig | None:
    """The model config stored inside the weights file ``path`` (training checkpoints), or None."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return None
    try:
        checkpoint = _load_torch_file(path, mmap=True)
    except ValueError:
        checkpoint = _load_torch_file(path)  # not a zip-format file: read it whole (raises if unreadable)
    return training_checkpoint_config(checkpoint, path)


def check_weights(state_dict: Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Refuse integer/bool or non-finite tensors (naming the first); half precision becomes float32 (exact).

    The model's parameters and buffers are all floating point, so an integer tensor means a wrong
    file; NaN or infinite weights would only show up later as "nothing to export".
    """
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        if not (tensor.is_floating_point() or tensor.is_complex()):
            raise WeightsFileError(
                f"{path}: tensor {key!r} has dtype {str(tensor.dtype).replace('torch.', '')}; "
                "expected floating-point weights (float32, float16 or bfloat16)"
            )
        if tensor.dtype in (torch.float16, torch.bfloat16):
            tensor = tensor.float()  # every half value is exactly a float32 value
        if tensor.numel() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise WeightsFileError(
                f"{path}: tensor {key!r} holds {bad:,} non-finite value(s) (NaN or inf) of {tensor.numel():,}; "
                "expected finite weights (the file is damaged or from a diverged training run)"
            )
        out[key] = tensor
    return out


def load_state_dict_strict(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], assign: bool = False) -> None:
    """``load_state_dict(strict=True)`` with one error listing missing, unexpected and mis-shaped keys."""
    expected = model.state_dict(keep_vars=True)
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mis_shaped = sorted(
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or mis_shaped:
        lines = ["the weights do not match the model's config:"]
        for title, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mis_shaped)):
            if keys:
                shown = ", ".join(keys[:20]) + (f", ... ({len(keys) - 20} more)" if len(keys) > 20 else "")
                lines.append(f"  {title} ({len(keys)}): {shown}")
        raise ValueError("\n".join(lines))
    model.load_state_dict(state_dict, strict=True, assign=assign)


def _materialise_buffers(model: torch.nn.Module, device: torch.device | str) -> None:
    """Give buffers left on the meta device (non-persistent constants) real values."""
    from vggt_py.aggregator.aggregator import IMAGENET_MEAN, IMAGENET_STD

    agg = model.aggregator
    agg._resnet_mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 1, 3, 1, 1)
    agg._resnet_std = torch.tensor(IMAGENET_STD, device=device).view(1, 1, 3, 1, 1)
    leftovers = [n for n, t in model.state_dict(keep_vars=True).items() if t.is_meta]
    leftovers += [n for n, b in model.named_buffers() if b.is_meta]
    assert not leftovers, f"tensors left on the meta device: {leftovers}"


def load_pretrained(
    cls: type[torch.nn.Module],
    repo_id_or_path: str | os.PathLike[str],
    *,
    config: VGGTConfig | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> Any:
    config_path, weights_path = resolve_pretrained(
        repo_id_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token
    )
    if weights_path.suffix == ".safetensors":
        tensors = load_weights_file(weights_path, device=device)
    else:
        checkpoint = _load_torch_file(weights_path, device)
        if config is None:  # a training checkpoint knows its model, wherever it was copied to
            config = training_checkpoint_config(checkpoint, weights_path)
            config_path = None if config is not None else config_path
        tensors = unwrap_checkpoint(checkpoint)
    assumed = config is None and config_path is None
    if config is None:
        config = VGGTConfig.from_json(config_path) if config_path is not None else VGGTConfig()
    state_dict = convert_state_dict(tensors, config)
    state_dict = check_weights(state_dict, weights_path)
    if dtype is not None:
        state_dict = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state_dict.items()}
    with torch.device("meta"):
        model = cls(config)
    try:
        load_state_dict_strict(model, state_dict, assign=True)
    except ValueError as err:
        hint = (
            f"there is no config.json beside {weights_path.name}, so the VGGT-1B architecture was assumed; put the "
            "model's config.json next to the weights (VGGT.save_pretrained writes both) or pass config=.\n"
            if assumed
            else ""
        )
        raise ValueError(f"{weights_path}: {hint}{err}") from None
    _materialise_buffers(model, device)
    return model.eval()


def default_model_card(model: torch.nn.Module) -> str:
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    heads = [n for n in ("camera_head", "depth_head", "point_head", "track_head") if getattr(cfg, n).enabled]
    return (
        "---\nlibrary_name: vggt-py\ntags:\n- 3d-reconstruction\n- vggt\n---\n\n"
        "# VGGT model\n\n"
        f"A VGGT (Visual Geometry Grounded Transformer) model saved by vggt-py: {params:,} parameters, "
        f"embedding width {cfg.embed_dim}, aggregator depth {cfg.aggregator.depth}, patch embedding "
        f"`{cfg.patch_embed.type}`, heads: {', '.join(heads) or 'none'}.\n\n"
        "The weights use the key layout of `facebook/VGGT-1B`.\n\n"
        "```python\nfrom vggt_py import VGGT\nmodel = VGGT.from_pretrained(\"<this repo or folder>\")\n```\n"
    )


def save_pretrained(model: torch.nn.Module, folder: str | os.PathLike[str], model_card: str | None = None) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", "library": "vggt-py"})
    model.config.to_json(folder / CONFIG_FILE)
    atomic_write_text(folder / "README.md", model_card if model_card is not None else default_model_card(model))


def push_to_hub(model: torch.nn.Module, repo_id: str, *, private: bool = False, token: str | None = None, **kwargs: Any) -> str:
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(model, tmp)
        commit = api.upload_folder(repo_id=repo_id, folder_path=tmp, **kwargs)
    return str(getattr(commit, "commit_url", commit))


class PretrainedMixin:
    """Loading and saving methods of a model class built from a :class:`~vggt_py.config.VGGTConfig`.

    The model class inherits this (``class VGGT(PretrainedMixin, nn.Module)``), so the hub code never needs
    to import the model: ``cls`` is whichever class the method is called on.
    """

    @classmethod
    def from_pretrained(
        cls,
        repo_id_or_path: str | os.PathLike[str],
        *,
        config: VGGTConfig | None = None,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | None = None,
    ) -> Any:
        """Load a model from a hub repo id, a local folder or a single weights file.

        A folder holds ``config.json`` and ``model.safetensors`` (or ``model.pt``); a hub repo the same
        (``facebook/VGGT-1B`` works unchanged). ``.pt`` files load with ``weights_only=True``. The
        model is built on the meta device and takes the loaded tensors directly, so loading never
        holds two copies of the weights. Returned in eval mode.
        """
        return load_pretrained(
            cls,
            repo_id_or_path,
            config=config,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
            device=device,
            dtype=dtype,
        )

    def load_checkpoint_state_dict(self, state_dict: Mapping[str, torch.Tensor], assign: bool = False) -> None:
        """Load a checkpoint-layout state dict strictly, with a readable error on any mismatch."""
        load_state_dict_strict(self, state_dict, assign=assign)

    def save_pretrained(self, folder: str | os.PathLike[str], model_card: str | None = None) -> None:
        """Write ``config.json``, ``model.safetensors`` (checkpoint layout) and a ``README.md`` card."""
        save_pretrained(self, folder, model_card=model_card)

    def push_to_hub(self, repo_id: str, *, private: bool = False, token: str | None = None, **kwargs: Any) -> str:
        """Save to a temporary folder and upload it to ``repo_id``; returns the commit URL."""
        return push_to_hub(self, repo_id, private=private, token=token, **kwargs)
