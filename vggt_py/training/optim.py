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
    "describe_schedule",
    "freeze",
    "merge_lora",
    "warmup_cosine",
    "warmup_steps",
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


def warmup_steps(total_steps: int, warmup_fraction: float) -> int:
    """Optimizer steps of the linear warm-up: ``floor(warmup_fraction * total_steps)``.

    Always fewer than ``total_steps`` (``warmup_fraction < 1``), and 0 when the run is too short for a
    whole warm-up step (e.g. 5 % of 8 steps): a short run then starts at the peak learning rate.
    """
    if total_steps < 1 or not 0 <= warmup_fraction < 1:
        raise ValueError(f"need total_steps >= 1 and warmup_fraction in [0, 1); got {total_steps}, {warmup_fraction}")
    return int(math.floor(warmup_fraction * total_steps + 1e-9))


def warmup_cosine(total_steps: int, warmup_fraction: float, peak: float, floor: float) -> Callable[[int], float]:
    """Multiplier of ``peak`` for optimizer step ``k`` (0-based; a ``LambdaLR`` function).

    With ``W = warmup_steps(total_steps, warmup_fraction)``: steps ``k < W`` rise linearly,
    ``floor + (peak - floor) * (k + 1) / (W + 1)`` (so even the first step learns), step ``W`` is at
    ``peak``, and the remaining steps follow a cosine from ``peak`` towards ``floor``, reached at
    ``k = total_steps`` (and kept after). A one-step run takes its step at ``peak``.
    """
    if peak <= 0:
        raise ValueError(f"need peak > 0; got {peak}")
    warmup = warmup_steps(total_steps, warmup_fraction)

    def factor(step: int) -> float:
        if step < warmup:
            lr = floor + (peak - floor) * (step + 1) / (warmup + 1)
        else:
            phase = min((step - warmup) / (total_steps - warmup), 1.0)
            lr = floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * phase))
        return lr / peak

    return factor


def describe_schedule(total_steps: int, config: OptimConfig) -> str:
    """One line saying what the learning-rate schedule of a ``total_steps`` run does (logged at start)."""
    warmup = warmup_steps(total_steps, config.warmup_fraction)
    factor = warmup_cosine(total_steps, config.warmup_fraction, config.lr, config.min_lr)
    first, last = factor(0) * config.lr, factor(total_steps - 1) * config.lr
    if warmup:
        ramp = f"linear warm-up over {warmup} step(s) (first step at lr {first:.3g}) to the peak lr {config.lr:.3g}"
    else:
        reason = "" if config.warmup_fraction == 0 else (
            f" ({config.warmup_fraction:g} x {total_steps} steps is less than one step)"
        )
        ramp = f"no warm-up{reason}, starting at the peak lr {config.lr:.3g}"
    return (
        f"learning-rate schedule: {total_steps} optimizer step(s); {ramp}, then cosine decay "
        f"(last step at lr {last:.3g}, towards min_lr {config.min_lr:.3g})"
    )


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
