"""An export is one transaction: staged, read back, swapped in with a manifest; failures and kills change nothing."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import sane_tiny_model, write_photos
from vggt_py.errors import OutputExistsError
from vggt_py.inference import colmap_export
from vggt_py.inference import export as export_module
from vggt_py.inference.api import reconstruct
from vggt_py.inference.export import MANIFEST_NAME, OUTPUT_NAMES, ExportError, check_output_dir, export

pycolmap = pytest.importorskip("pycolmap")

ALL = ["glb", "ply", "colmap", "npz"]


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory):
    photos = write_photos(tmp_path_factory.mktemp("photos"), (160, 120), 2)
    return reconstruct(photos, sane_tiny_model(), device="cpu")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_manifest_names_the_run_and_every_file(rec, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(rec, out, ALL, colmap_max_points=50)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["formats"] == ALL and manifest["frames"] == 2 and len(manifest["run_id"]) == 12
    on_disk = {k for k in snapshot(out) if k != MANIFEST_NAME}
    assert set(manifest["files"]) == on_disk
    for name, record in manifest["files"].items():
        data = (out / name).read_bytes()
        assert record == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert not [p for p in out.rglob(".*")]  # no staging, backup or tmp left


def test_rerun_needs_overwrite_and_never_mixes_runs(rec, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(rec, out, ALL, colmap_max_points=50)
    (out / "consistency.json").write_text("{}")  # derived from this export by `vggt-py check`
    (out / "notes.txt").write_text("mine")  # not ours: kept
    before = snapshot(out)
    with pytest.raises(OutputExistsError, match="overwrite"):
        export(rec, out, ["npz"])
    assert snapshot(out) == before
    export(rec, out, ["npz"], overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "reconstruction.npz", MANIFEST_NAME]
    # an export written before manifests existed is an export too
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "points.ply").write_bytes(b"old")
    with pytest.raises(FileExistsError, match=r"points\.ply"):
        check_output_dir(legacy)


def test_disk_full_midway_leaves_the_previous_export(rec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    export(rec, out, ALL, colmap_max_points=50)
    before = snapshot(out)

    def full_disk(rec, path: Path, plan) -> None:
        path.write_bytes(b"\0" * 100)  # half written
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setitem(export_module.WRITERS, "npz", full_disk)
    with pytest.raises(ExportError, match=r"npz export failed writing .*reconstruction\.npz: no space left on device"):
        export(rec, out, ALL, colmap_max_points=50, overwrite=True)
    assert snapshot(out) == before
    assert not [p for p in out.rglob(".*")]


def test_a_truncated_colmap_model_is_caught_before_the_swap(
    rec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    export(rec, out, ALL, colmap_max_points=50)
    before = snapshot(out)
    original = colmap_export._write_colmap_model

    def truncating(model, folder: Path, binary: bool) -> None:  # pycolmap silently stopping on a full disk
        original(model, folder, binary)
        points = folder / "points3D.bin"
        points.write_bytes(points.read_bytes()[: points.stat().st_size // 2])

    monkeypatch.setattr(colmap_export, "_write_colmap_model", truncating)
    with pytest.raises(ExportError, match="colmap export did not read back"):
        export(rec, out, ALL, colmap_max_points=50, overwrite=True)
    assert snapshot(out) == before


def test_a_failing_format_writes_nothing_into_a_new_folder(rec, tmp_path: Path) -> None:
    out = tmp_path / "new"
    with pytest.raises(ValueError, match="camera_model"):
        export(rec, out, ALL, camera_model="FISHEYE")  # fails after GLB and PLY were staged
    assert list(out.iterdir()) == []


SLOW_EXPORT = """
import sys, time
from pathlib import Path
import numpy as np
from vggt_py.inference import export as export_module
from vggt_py.inference.export import export, load_npz

rec = load_npz(sys.argv[1])
original = export_module.WRITERS["ply"]

def slow(rec, path, plan):
    original(rec, path, plan)
    (Path(sys.argv[2]) / "ready").write_text("x")
    time.sleep(60)

export_module.WRITERS["ply"] = slow
export(rec, sys.argv[3], ["glb", "ply", "npz"], overwrite=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_run_leaves_the_old_export_and_the_next_run_cleans_up(rec, tmp_path: Path, sig: int) -> None:
    out = tmp_path / "out"
    written = export(rec, out, ["npz"])
    before = snapshot(out)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_EXPORT, str(written["npz"]), str(tmp_path), str(out)],
        env=env,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "ready").exists():
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert snapshot(out).keys() >= before.keys()
    assert {k: v for k, v in snapshot(out).items() if not k.startswith(".")} == before  # old export intact
    assert [p.name for p in out.iterdir() if p.name.startswith(".vggt-staging-")]  # the kill's leftover
    check_output_dir(out, overwrite=True)
    assert snapshot(out) == before  # leftovers removed, export untouched


def test_a_kill_during_the_swap_is_rolled_back_on_the_next_run(rec, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(rec, out, ["glb", "npz"])
    before = snapshot(out)
    # the state a kill between "old files moved aside" and "manifest moved in" leaves
    backup = out / ".vggt-previous-0123456789ab"
    backup.mkdir()
    for name in (OUTPUT_NAMES["glb"], MANIFEST_NAME):
        os.replace(out / name, backup / name)
    (out / OUTPUT_NAMES["glb"]).write_bytes(b"new but unfinished run")
    check_output_dir(out, overwrite=True)
    assert snapshot(out) == before


def test_cli_sigterm_and_ctrl_c_exit_without_traceback(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import argparse, sys, time
        from pathlib import Path
        import vggt_py.cli as cli

        def slow(args):
            Path(sys.argv[1]).write_text("x")
            time.sleep(60)

        argparse.ArgumentParser.parse_args = lambda self, argv=None: argparse.Namespace(func=slow, command="reconstruct")
        sys.exit(cli.main([]))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        ready = tmp_path / f"ready{sig}"
        proc = subprocess.Popen([sys.executable, "-c", script, str(ready)], env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == code, stderr
        assert "Traceback" not in stderr and "vggt-py reconstruct:" in stderr
