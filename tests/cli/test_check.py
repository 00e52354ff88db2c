"""``vggt-py check``, run in-process on the exact synthetic reconstructions of the consistency tests."""

from __future__ import annotations

import dataclasses
import json

import pytest

from inference.test_consistency import make_reconstruction, with_cameras
from vggt_py.cli import main
from vggt_py.inference.reconstruction import Reconstruction


@pytest.fixture(scope="module")
def scene() -> Reconstruction:
    return make_reconstruction(5, tracks=200)


def test_cli_writes_the_report(scene: Reconstruction, tmp_path):
    from vggt_py.inference.export import OUTPUT_NAMES, export_npz

    assert OUTPUT_NAMES["npz"] == "reconstruction.npz"  # the name `check` looks for in a folder
    export_npz(scene, tmp_path / "reconstruction.npz")
    assert main(["check", str(tmp_path), "--checks", "points,depth"]) == 0
    data = json.loads((tmp_path / "consistency.json").read_text())
    assert data["ok"] is True and data["checks"] == ["points", "depth"]
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left nothing behind


def test_cli_strict_flags_suspect_frames(scene: Reconstruction, tmp_path, capsys):
    from vggt_py.inference.export import export_npz

    depth = scene.depth.copy()
    depth[3] *= 1.3
    path = export_npz(with_cameras(dataclasses.replace(scene, depth=depth), scene.extrinsics), tmp_path / "rec.npz")
    out = tmp_path / "custom" / "report.json"
    assert main(["check", str(path), "--checks", "depth", "--json", str(out), "--strict", "--verbose"]) == 1
    assert json.loads(out.read_text())["suspect_frames"] == [3]
    assert "frame_003.png" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--checks", "depth,nope"], "unknown check"),
        (["--point-error", "-1"], "--point-error"),
        (["--max-points", "0"], "--max-points"),
    ],
)
def test_cli_errors(scene: Reconstruction, tmp_path, capsys, args: list[str], message: str):
    from vggt_py.inference.export import export_npz

    export_npz(scene, tmp_path / "reconstruction.npz")
    assert main(["check", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_cli_missing_npz(tmp_path, capsys):
    assert main(["check", str(tmp_path)]) == 2
    assert "reconstruction.npz" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "missing.npz")]) == 2


def test_cli_json_target_that_cannot_be_written(scene: Reconstruction, tmp_path, capsys):
    from vggt_py.inference.export import export_npz

    path = export_npz(scene, tmp_path / "rec.npz")
    (tmp_path / "file").write_text("x")
    for target in (tmp_path / "file" / "report.json", tmp_path):  # under a file; a folder
        assert main(["check", str(path), "--checks", "depth", "--json", str(target)]) == 2
        err = capsys.readouterr().err
        assert "cannot write the report" in err and "Traceback" not in err


def test_cli_summary_first_and_exit_1_on_suspect_frames(scene: Reconstruction, tmp_path, capsys):
    from vggt_py.inference.export import export_npz

    depth = scene.depth.copy()
    depth[3] *= 1.3
    path = export_npz(with_cameras(dataclasses.replace(scene, depth=depth), scene.extrinsics), tmp_path / "rec.npz")
    assert main(["check", str(path), "--checks", "points,depth"]) == 1  # no --strict needed
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "1 of 5 frame(s) suspect (checks run: points, depth)"
    assert lines[1].startswith("  points    1 of 5 fail: depth vs point head median")
    assert "  suspect frames: 3" in lines and not any("frame_003.png" in line for line in lines)
    assert lines[-1].endswith("consistency.json (per frame: --verbose)") and len(lines) == 5
    assert main(["check", str(path), "--checks", "points,depth", "--fail-on", "none", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "frame_003.png" in out and "frame 3 (frame_003.png): depth:" in out  # the table and the reasons


def test_cli_single_frame_says_which_checks_ran(scene: Reconstruction, tmp_path, capsys):
    from vggt_py.inference.export import export_npz

    keep = ("extrinsics", "intrinsics", "depth", "depth_conf", "points_from_depth", "colors", "original_sizes")
    keep += ("transforms", "valid_regions", "pose_encoding", "points_from_head", "points_conf")
    single = dataclasses.replace(scene, names=scene.names[:1], tracks=None, track_visibility=None,
                                 track_confidence=None, query_points=None,
                                 **{k: getattr(scene, k)[:1] for k in keep})
    export_npz(single, tmp_path / "reconstruction.npz")
    assert main(["check", str(tmp_path), "--no-json"]) == 0
    out = capsys.readouterr().out
    assert "consistent" not in out
    assert out.splitlines()[0].startswith("no suspect frame of 1 on the 1 check(s) that ran (points); not run:")
    assert "camera check not run: needs at least 2 frames" in out
