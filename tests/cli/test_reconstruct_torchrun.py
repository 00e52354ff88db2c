"""``torchrun --nproc-per-node=2 -m vggt_py.cli reconstruct``: 2 gloo processes on loopback write one
reconstruction (rank 0), equal to the single-process command's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from helpers import REPO_ROOT, write_photos
from vggt_py.cli import main
from vggt_py.inference.export import load_npz


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_torchrun_two_processes_write_the_single_process_reconstruction(model_dir: Path, tmp_path: Path) -> None:
    photos = write_photos(tmp_path / "photos", (150, 200), count=3)
    common = ["reconstruct", str(photos), "--model", str(model_dir), "--device", "cpu", "--offline", "--formats", "npz"]
    assert main([*common, "-o", str(tmp_path / "one")]) == 0
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    launcher = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc-per-node=2", "--node-rank=0",
        "--master-addr=127.0.0.1", f"--master-port={_free_port()}", "-m", "vggt_py.cli",
    ]
    proc = subprocess.run(
        [*launcher, *common, "-o", str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["reconstruction.npz", "vggt-export.json"]  # once
    one, two = load_npz(tmp_path / "one" / "reconstruction.npz"), load_npz(tmp_path / "two" / "reconstruction.npz")
    assert len(two) == 3 and two.names == one.names
    for field in ("extrinsics", "intrinsics", "depth", "depth_conf", "points_from_depth", "points_from_head"):
        want, got = getattr(one, field), getattr(two, field)
        assert got.shape == want.shape, field
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()), err_msg=field)
