"""The interactive viewer (viser) on loopback: the page it serves, the scene it holds, the live filters,
frame selection, the scale bar, `vggt-py view` and Ctrl-C, and headless Chromium drawing it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from window_fakes import FakePredictor, loop_trajectory

from browser import VIEWER_READY, chromium_binary, open_page
from vggt_py.inference.anchors import scale_by_depth
from vggt_py.inference.consistency import consistent_mask
from vggt_py.inference.export import export_npz, select_points
from vggt_py.inference.viewer import find_consistency, nice_length, start_viewer
from vggt_py.inference.visuals import VERDICT_RGB

pytest.importorskip("viser")
ROOT = Path(__file__).resolve().parents[2]
needs_chromium = pytest.mark.skipif(chromium_binary() is None, reason="no Chromium (apt install chromium)")


@pytest.fixture(scope="module")
def rec():
    """10 frames (16 x 12) of a fake prediction of a camera circle inside a cylinder wall."""
    ext, depth = loop_trajectory(frames=40, turns=0.25)
    return FakePredictor(ext, depth, seed=1)(range(0, 40, 4))


@pytest.fixture(scope="module")
def viewer(rec):
    with start_viewer(rec, port=0) as running:
        yield running


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        return response.read().decode("utf-8", "replace")


def test_viewer_serves_the_page_and_the_scene(rec, viewer) -> None:
    assert viewer.url.startswith("http://127.0.0.1:")
    page = fetch(viewer.url)
    assert "<html" in page.lower() and "viser" in page.lower()
    # the scene, through viser's handles: the points the default filter keeps, one frustum per frame
    expected = select_points(rec, conf_percentile=50)
    assert viewer.point_cloud.points.shape == (len(expected), 3)
    assert sorted(map(tuple, viewer.point_cloud.points.round(4))) == sorted(map(tuple, expected.xyz.round(4)))
    assert len(viewer.frusta) == len(rec) and all(f is not None for f in viewer.frusta)
    frustum = viewer.frusta[3]
    np.testing.assert_allclose(frustum.position, rec.camera_centers[3], atol=1e-5)
    assert frustum.image is not None and frustum.image.shape == (12, 16, 3)
    assert frustum.aspect == pytest.approx(16 / 12)
    assert viewer.scale_bar is None  # normalised scale: no units, no bar


def test_verdicts_arrive_and_colour_the_frusta(rec, viewer) -> None:
    assert viewer.checks_done.wait(300) and viewer.checks_error is None
    report = rec.check()
    assert viewer.verdicts == [f.verdict for f in report.frames]
    for frustum, verdict in zip(viewer.frusta, viewer.verdicts):
        assert tuple(frustum.color) == VERDICT_RGB[verdict]
    assert not viewer.consistent_checkbox.disabled
    assert "suspect frame(s)" in viewer.summary_text.content


def test_live_filters(rec, viewer) -> None:
    assert viewer.checks_done.wait(300)
    mask = consistent_mask(rec)
    for percentile, consistent in ((0, False), (80, False), (30, True)):
        viewer.percentile_slider.value = percentile
        viewer.consistent_checkbox.value = consistent
        shown = viewer.refresh()
        expected = len(select_points(rec, conf_percentile=percentile, mask=mask if consistent else None))
        assert shown == expected == len(viewer.point_cloud.points) == len(viewer.point_cloud.colors)
        assert f"{expected:,} points shown" in viewer.count_text.content
    viewer.consistent_checkbox.value = False
    viewer.percentile_slider.value = 50
    viewer.refresh()


def test_selecting_a_frame_shows_its_maps(rec, viewer) -> None:
    viewer.select_frame(4)
    assert viewer.frame_dropdown.value == f"4: {rec.names[4]}"
    assert rec.names[4] in viewer.frame_text.content
    photo = viewer.photo_image.image
    np.testing.assert_array_equal(photo, rec.colors[4])
    for image in (viewer.depth_image.image, viewer.confidence_image.image):
        assert image.shape == (12, 16, 3) and image.dtype == np.uint8 and image.std() > 0
    viewer.frame_dropdown.value = f"7: {rec.names[7]}"  # picking it in the panel does the same
    deadline = time.monotonic() + 10
    while viewer.selected_frame != 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert viewer.selected_frame == 7
    with pytest.raises(IndexError, match="frame 10 out of range for 10 frames"):
        viewer.select_frame(10)


def test_clicking_a_frustum_selects_its_frame(rec, viewer) -> None:
    viewer.select_frame(0)
    for entry in viewer.frusta[5]._impl.click_cb:  # what viser calls when the browser reports a click on it
        entry.callback(None)
    assert viewer.selected_frame == 5 and viewer.frame_dropdown.value == f"5: {rec.names[5]}"
    np.testing.assert_array_equal(viewer.photo_image.image, rec.colors[5])


def test_rec_view_without_blocking(rec, capsys) -> None:
    viewer = rec.view(port=0, block=False, check_consistency=False)
    try:
        assert f"viewer: open {viewer.url} in a browser" in capsys.readouterr().out
        assert "viser" in fetch(viewer.url).lower()
        assert len(viewer.point_cloud.points) == len(select_points(rec, conf_percentile=50))
    finally:
        viewer.stop()
    with pytest.raises(OSError):
        fetch(viewer.url)  # stopped: nothing listens any more


def test_metric_scale_gets_a_scale_bar(rec) -> None:
    metric = scale_by_depth(rec, 0, 5.0)
    with start_viewer(metric, port=0, check_consistency=False) as viewer:
        assert viewer.scale_bar is not None
        assert viewer.scale_length == nice_length(viewer.scene_size)
        assert viewer.scale_label == f"{viewer.scale_length:g} m"
        (start, end), = viewer.scale_bar.points
        assert np.linalg.norm(end - start) == pytest.approx(viewer.scale_length, rel=1e-5)
        assert viewer.consistent_checkbox.disabled and viewer.verdicts == [None] * len(rec)
    assert [nice_length(s) for s in (1.0, 7.0, 30.0, 0.4)] == [0.2, 1.0, 5.0, 0.1]


def test_bad_arguments_and_missing_viser(rec, monkeypatch) -> None:
    for kwargs, message in (
        ({"conf_percentile": 101}, "conf_percentile must be in \\[0, 100\\], got 101"),
        ({"max_points": 0}, "max_points must be a positive integer, got 0"),
        ({"port": 70000}, "port must be an integer in \\[0, 65535\\]"),
    ):
        with pytest.raises(ValueError, match=message):
            start_viewer(rec, check_consistency=False, **kwargs)
    monkeypatch.setitem(sys.modules, "viser", None)
    with pytest.raises(ImportError, match="the viewer needs viser.*pip install 'vggt-py\\[view\\]'"):
        start_viewer(rec, port=0)


def test_find_consistency_prefers_check_then_report(rec, tmp_path: Path) -> None:
    import json

    assert find_consistency(tmp_path, len(rec)) is None
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "consistency.json").write_text(json.dumps({"frames": [{}] * len(rec), "checks": []}))
    assert find_consistency(tmp_path, len(rec))["checks"] == []
    (tmp_path / "consistency.json").write_text(json.dumps({"frames": [{}] * 3}))  # another run: ignored
    assert find_consistency(tmp_path, len(rec))["checks"] == []
    assert find_consistency(tmp_path, 4) is None


def test_cli_view_serves_and_stops_on_ctrl_c(rec, tmp_path: Path) -> None:
    export_npz(rec, tmp_path / "reconstruction.npz")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, "-m", "vggt_py.cli", "view", str(tmp_path), "--port", "0", "--no-check"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        url = None
        for line in process.stdout:
            if "open http://" in line:
                url = line.split("open ", 1)[1].split()[0]
                break
        assert url is not None and url.startswith("http://127.0.0.1:")
        assert "viser" in fetch(url).lower()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert "Traceback" not in err and "vggt-py view: stopped" in err


def test_cli_view_errors(tmp_path: Path, capsys) -> None:
    from vggt_py.cli import main

    assert main(["view", str(tmp_path)]) == 2
    assert "holds no reconstruction.npz" in capsys.readouterr().err
    assert main(["view", str(tmp_path), "--port", "-1"]) == 2
    assert "--port must be in [0, 65535], got -1" in capsys.readouterr().err


@needs_chromium
def test_chromium_draws_the_viewer(viewer, tmp_path: Path) -> None:
    result = open_page(viewer.url, width=1000, height=700, until=VIEWER_READY, settle=3)
    assert result.errors == []
    (tmp_path / "viewer.png").write_bytes(result.screenshot)
    from PIL import Image

    with Image.open(tmp_path / "viewer.png") as shot:
        pixels = np.asarray(shot.convert("RGB"), dtype=np.int64)
    scene = pixels[:, : 1000 - 330]  # left of the panel
    assert (np.abs(scene - 255).sum(axis=-1) > 60).mean() > 0.002  # points and frusta drawn, not a blank canvas
