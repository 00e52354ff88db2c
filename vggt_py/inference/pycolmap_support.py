"""Importing pycolmap (4.x, with rigs and frames) with an error that says how to install it."""

from __future__ import annotations

from types import ModuleType

__all__ = ["import_pycolmap"]


def import_pycolmap(purpose: str = "This") -> ModuleType:
    """Import pycolmap 4.x, or raise an ``ImportError`` that says what ``purpose`` needs and how to install it."""
    try:
        import pycolmap
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{purpose} needs pycolmap. Install it with: "
            'pip install "vggt-py[colmap]" (or: pip install pycolmap)'
        ) from err
    if not hasattr(pycolmap.Reconstruction, "add_image_with_trivial_frame"):  # pragma: no cover
        raise ImportError(
            f"{purpose} needs a pycolmap with rigs and frames (4.x); found {pycolmap.__version__}. "
            'Upgrade it with: pip install -U "vggt-py[colmap]" (or: pip install -U pycolmap)'
        )
    return pycolmap
