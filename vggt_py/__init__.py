"""vggt_py: VGGT (Visual Geometry Grounded Transformer), clean, tested and memory-lean."""

from vggt_py.config import PRESETS, VGGTConfig
from vggt_py.model import VGGT

__version__ = "0.1.0"

__all__ = ["PRESETS", "VGGT", "VGGTConfig", "__version__"]
