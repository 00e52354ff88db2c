"""Exact inference with one scene's frames split across the processes of a ``torch.distributed`` group.

``forward_distributed(model, images, query_points)`` inside an initialised process group (e.g.
under ``torchrun --nproc-per-node=N``) gives the single-process result; :class:`FrameShard`
describes one process's frames and is what :meth:`vggt_py.VGGT.forward` takes as ``shard``.
"""

from vggt_py.parallel.inference import check_setup, forward_distributed, gather_outputs, make_shard
from vggt_py.parallel.launch import DistributedContext, init_from_env, launched_by_torchrun
from vggt_py.parallel.shard import FrameShard, split_frames

__all__ = [
    "DistributedContext",
    "FrameShard",
    "check_setup",
    "forward_distributed",
    "gather_outputs",
    "init_from_env",
    "launched_by_torchrun",
    "make_shard",
    "split_frames",
]
