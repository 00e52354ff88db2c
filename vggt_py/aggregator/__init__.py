"""The VGGT backbone: patch embedding plus alternating frame/global attention."""

from vggt_py.aggregator.aggregator import IMAGENET_MEAN, IMAGENET_STD, Aggregator
from vggt_py.aggregator.patch_embed import ConvPatchEmbed, DinoV2

__all__ = ["Aggregator", "ConvPatchEmbed", "DinoV2", "IMAGENET_MEAN", "IMAGENET_STD"]
