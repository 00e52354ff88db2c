"""Building blocks shared by the backbone and the heads."""

from vggt_py.layers.attention import Attention
from vggt_py.layers.block import Block, run_block
from vggt_py.layers.layer_scale import LayerScale
from vggt_py.layers.mlp import Mlp
from vggt_py.layers.rope import apply_rope, patch_positions, rope_table

__all__ = ["Attention", "Block", "run_block", "LayerScale", "Mlp", "apply_rope", "patch_positions", "rope_table"]
