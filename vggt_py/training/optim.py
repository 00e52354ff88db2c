"""Parameter freezing, LoRA adapters, AdamW, the warm-up + cosine schedule and gradient clipping."""

from __future__ import annotations

import fnmatch
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from vggt_py.training.config import LoRAConfig, OptimConfig

__all__ = [
    "apply_lora",
    "build_optimizer",
    "clip_gradients",
    "freeze",
    "merge_lora",
    "warmup_cosine",
]


def _matches(name: str, patterns: Sequence[str]) -> str | None:
    return next((p for p in patterns if fnmatch.fnmatchcase(name, p)), None)


def freeze(model: nn.Module, patterns: Sequence[str]) -> list[str]:
    """Set ``requires_grad=False`` on parameters matched by glob ``patterns``.

    A parameter is matched when its own name or the name of a module containing it matches
    (``"aggregator*"`` freezes the whole aggregator, ``"*.norm*"`` every norm). Returns the names of the
    parameters frozen.

    Raises:
        ValueError: if a pattern matches nothing (a typo would otherwise silently train everything).
    """
    used: set[str] = set()
    frozen: list[str] = []
    for name, param in model.named_parameters():
        parts = name.split(".")
        prefixes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
        hits = [p for p in (_matches(prefix, patterns) for prefix in prefixes) if p is not None]
        if hits:
            used.update(hits)
            param.requires_grad_(False)
            frozen.append(name)
    unused = [p for p in patterns if p not in used]
    if unused:
        top = sorted({name for name, _ in model.named_children()})
        raise ValueError(f"freeze pattern(s) {unused} match no module or parameter; top-level modules: {top}")
    return frozen


def apply_lora(model: nn.Module, config: LoRAConfig) -> list[str]:
    """Inject peft LoRA adapters into the ``nn.Linear`` layers matched by ``config.target_modules``.

    Adapted layers' weights are frozen and their adapters trainable; every other parameter keeps its
    ``requires_grad`` (peft's own "train only adapters" switch is undone). Returns the adapted module names.

    Raises:
        ImportError: without peft. ValueError: if the patterns match no linear layer.
    """
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError as err:
        raise ImportError("LoRA needs peft: pip install peft") from err
    targets = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and _matches(name, config.target_modules) is not None
    ]
    if not targets:
        raise ValueError(f"lora.target_modules {config.target_modules} match no nn.Linear module")
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    peft_config = LoraConfig(
        r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout, target_modules=targets, bias="none"
    )
    inject_adapter_in_model(peft_config, model)
    for name, param in model.named_parameters():
        if ".lora_" in name:
            param.requires_grad_(True)
        elif ".base_layer." in name:
            param.requires_grad_(False)
        else:
            param.requires_grad_(name in trainable)
    return targets


def merge_lora(model: nn.Module) -> int:
    """Merge LoRA adapters into their base layers and put the plain layers back; returns the count."""
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:
        return 0
    merged = 0
    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
            merged += 1
    return merged


def build_optimizer(params: Iterable[nn.Parameter], config: OptimConfig) -> torch.optim.AdamW:
    """AdamW over ``params`` (one group, constant weight decay) starting at ``config.lr``."""
    params = list(params)
    if not params:
        raise ValueError("no trainable parameters: everything is frozen")
    return torch.optim.AdamW(params, lr=config.lr, betas=config.betas, eps=config.eps, weight_decay=config.weight_decay)


def warmup_cosine(total_steps: int, warmup_fraction: float, peak: float, floor: float) -> Callable[[int], float]:
    """Multiplier of ``peak`` for step ``k`` (a ``LambdaLR`` function), with progress ``p = k / total_steps``.

    Linear from ``floor`` to ``peak`` while ``p < warmup_fraction``, then a cosine from ``peak`` down to
    ``floor`` at ``p = 1`` (and ``floor`` after).
    """
    if total_steps < 1 or peak <= 0 or not 0 <= warmup_fraction < 1:
        raise ValueError(
            f"need total_steps >= 1, peak > 0, warmup in [0, 1); got {total_steps}, {peak}, {warmup_fraction}"
        )

    def factor(step: int) -> float:
        progress = min(step / total_steps, 1.0)
        if progress < warmup_fraction:
            lr = floor + (peak - floor) * progress / warmup_fraction
        else:
            phase = (progress - warmup_fraction) / (1 - warmup_fraction)
            lr = floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * phase))
        return lr / peak

    return factor


def clip_gradients(
    named_parameters: Iterable[tuple[str, nn.Parameter]], max_norm: float | None, per_module: bool = True
) -> torch.Tensor:
    """Clip gradients to ``max_norm`` (L2), per top-level module or all together; returns the total norm.

    The returned norm (over all gradients, before clipping) is computed even without clipping, so a
    non-finite value flags a bad step.
    """
    groups: dict[str, list[torch.Tensor]] = defaultdict(list)
    for name, param in named_parameters:
        if param.grad is not None:
            groups[name.split(".")[0] if per_module else "all"].append(param)
    if not groups:
        return torch.tensor(0.0)
    norms = []
    for params in groups.values():
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm is not None else math.inf)
        norms.append(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # DTensor under FSDP
    return torch.linalg.vector_norm(torch.stack([n.float() for n in norms]))
