"""Models shipped inside the package, and the ``"bundled"`` model alias.

A bundled model is a folder ``vggt_py/assets/models/NAME`` as written by ``VGGT.save_pretrained``
(``config.json``, ``model.safetensors`` and its model card ``README.md``). Anywhere a model is named
(``VGGT.from_pretrained``, ``--model``), ``"bundled"`` means :data:`BUNDLED_MODEL` and
``"bundled:NAME"`` the bundled model ``NAME``. The alias wins over a local folder called ``bundled``;
write ``./bundled`` for that folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from vggt_py.errors import ModelUnavailableError

__all__ = [
    "BUNDLED_ALIAS",
    "BUNDLED_MODEL",
    "BundledModelNotFoundError",
    "available_bundled_models",
    "bundled_model_card",
    "bundled_model_dir",
    "bundled_spec",
    "parse_bundled_spec",
]

BUNDLED_MODEL = "small-synthetic"
BUNDLED_ALIAS = "bundled"
_MODELS_ROOT = Path(__file__).resolve().parent / "assets" / "models"
_CONFIG_FILE = "config.json"
_WEIGHTS_FILE = "model.safetensors"
_MODEL_CARD = "README.md"


class BundledModelNotFoundError(ModelUnavailableError):
    """No bundled model of that name (the message lists the available ones)."""


def available_bundled_models() -> list[str]:
    """Names of the bundled models (folders holding ``config.json`` and ``model.safetensors``), sorted."""
    if not _MODELS_ROOT.is_dir():
        return []
    return sorted(
        folder.name
        for folder in _MODELS_ROOT.iterdir()
        if (folder / _CONFIG_FILE).is_file() and (folder / _WEIGHTS_FILE).is_file()
    )


def bundled_model_dir(name: str = BUNDLED_MODEL) -> Path:
    """The folder of the bundled model ``name``; raises :class:`BundledModelNotFoundError` if there is none."""
    if not isinstance(name, str):
        raise TypeError(f"bundled model name: expected a str, got {type(name).__name__}")
    available = available_bundled_models()
    if name not in available:  # also rejects "", "..", "a/b": only listed folder names pass
        shown = ", ".join(available) if available else f"none (no model folder under {_MODELS_ROOT})"
        raise BundledModelNotFoundError(
            f"no bundled model named {name!r}; available: {shown}. Name one as "
            f"'{BUNDLED_ALIAS}:NAME', or '{BUNDLED_ALIAS}' for {BUNDLED_MODEL}"
        )
    return _MODELS_ROOT / name


def bundled_model_card(name: str = BUNDLED_MODEL) -> Path:
    """Path of the model card (``README.md``) of the bundled model ``name`` (it may not exist yet)."""
    return bundled_model_dir(name) / _MODEL_CARD


def bundled_spec(name: str = BUNDLED_MODEL) -> str:
    """The model spec naming the bundled model ``name``: ``"bundled:NAME"``."""
    return f"{BUNDLED_ALIAS}:{name}"


def parse_bundled_spec(spec: str | os.PathLike[str]) -> str | None:
    """The bundled model name of ``"bundled"`` / ``"bundled:NAME"``, or ``None`` for any other spec.

    Only plain strings are aliases; a ``pathlib.Path("bundled")`` is a path.
    """
    if not isinstance(spec, str):
        return None
    if spec == BUNDLED_ALIAS:
        return BUNDLED_MODEL
    prefix = f"{BUNDLED_ALIAS}:"
    if spec.startswith(prefix):
        return spec[len(prefix) :]
    return None
