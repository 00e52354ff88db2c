"""Inference: image loading, reconstruction, exports, consistency checks and refinement."""

from vggt_py.inference.api import reconstruct
from vggt_py.inference.consistency import ConsistencyReport, ConsistencyThresholds, check, consistent_mask
from vggt_py.inference.images import IMAGE_EXTENSIONS, ImageBatch, ImageLoadError, list_images, load_images
from vggt_py.inference.reconstruction import Reconstruction
from vggt_py.inference.refine import RefineResult, refine

__all__ = [
    "IMAGE_EXTENSIONS",
    "ConsistencyReport",
    "ConsistencyThresholds",
    "ImageBatch",
    "ImageLoadError",
    "Reconstruction",
    "RefineResult",
    "check",
    "consistent_mask",
    "list_images",
    "load_images",
    "reconstruct",
    "refine",
]
