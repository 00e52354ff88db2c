from __future__ import annotations

import torch

from vggt_py.config import CameraHeadConfig
from vggt_py.heads.camera_head import CameraHead, activate_pose_encoding


def test_iterations_accumulate_raw_encoding() -> None:
    torch.manual_seed(0)
    head = CameraHead(32, CameraHeadConfig(trunk_depth=1, num_heads=2, iters=3), layer_index=0)
    outs = head({0: torch.randn(2, 4, 9, 32)})
    assert len(outs) == 3 and all(o.shape == (2, 4, 9) for o in outs)
    assert (outs[-1][..., 7:] >= 0).all()
    assert len(head({0: torch.randn(1, 1, 9, 32)}, iters=5)) == 5


def test_attention_runs_across_frames() -> None:
    torch.manual_seed(0)
    head = CameraHead(32, CameraHeadConfig(trunk_depth=1, num_heads=2, iters=1), layer_index=0)
    tokens = torch.randn(1, 3, 9, 32)
    base = head({0: tokens})[-1]
    changed = tokens.clone()
    changed[:, 2] += torch.randn(9, 32)  # not a constant: LayerNorm would remove it
    out = head({0: changed})[-1]
    assert (out[:, 0] - base[:, 0]).abs().max() > 1e-4  # frame 0 sees frame 2
    torch.testing.assert_close(head({0: tokens[:, :2]})[-1], head({0: tokens[:, :2]})[-1])


def test_activation() -> None:
    raw = torch.tensor([1.0, -2, 3, 0.1, 0.2, 0.3, -0.9, -0.5, 0.7])
    expected = torch.tensor([1.0, -2, 3, 0.1, 0.2, 0.3, -0.9, 0.0, 0.7])
    assert torch.equal(activate_pose_encoding(raw), expected)
