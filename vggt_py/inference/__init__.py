"""Inference: image loading, reconstruction, exports."""

from vggt_py.inference.api import reconstruct
from vggt_py.inference.images import IMAGE_EXTENSIONS, ImageBatch, ImageLoadError, list_images, load_images
from vggt_py.inference.reconstruction import Reconstruction

__all__ = ["IMAGE_EXTENSIONS", "ImageBatch", "ImageLoadError", "Reconstruction", "list_images", "load_images", "reconstruct"]
