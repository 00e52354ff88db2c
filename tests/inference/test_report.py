"""The visual report (report/report.html + PNGs): written by the export transaction for a bundled-model run,
every picture it refers to exists, and headless Chromium renders it without console errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser import chromium_binary, open_page
from vggt_py import VGGT
from vggt_py.data.synthetic import SceneConfig, generate_scene
from vggt_py.inference import export as export_module
from vggt_py.inference.api import reconstruct
from vggt_py.inference.export import MANIFEST_NAME, ExportError, export
from vggt_py.inference.images import load_images
from vggt_py.inference.report import REPORT_CONSISTENCY, REPORT_HTML, referenced_files, write_report

needs_chromium = pytest.mark.skipif(chromium_binary() is None, reason="no Chromium (apt install chromium)")


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory):
    """The bundled model on 4 frames of a held-out synthetic orbit, reconstructed at 112 x 112."""
    scene = generate_scene(SceneConfig(num_frames=4, height=112, width=112, num_tracks=0, baseline=3.0), seed=1_000_003)
    folder = tmp_path_factory.mktemp("orbit")
    for i, image in enumerate(scene.images):
        Image.fromarray(image).save(folder / f"frame_{i:02d}.png")
    batch = load_images(folder, target_size=112, patch_size=14)
    return reconstruct(batch, VGGT.from_pretrained("bundled"), device="cpu")


@pytest.fixture(scope="module")
def exported(rec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    settings = {"input": "orbit/", "formats": ["npz", "report"], "points kept": "conf >= percentile 50"}
    export(rec, out, ["npz", "report"], conf_percentile=50, report_options={"settings": settings, "timings": {"inference": 1.25}})
    return out


def pictures(html_path: Path) -> list[str]:
    return [link for link in referenced_files(html_path) if not link.startswith("#")]


def test_export_writes_the_report_and_every_picture_it_refers_to(rec, exported: Path) -> None:
    folder = exported / "report"
    page = folder / REPORT_HTML
    links = pictures(page)
    assert links and all(":" not in link and "/" not in link for link in links)  # nothing outside the folder
    for link in links:
        with Image.open(folder / link) as image:
            image.verify()
            assert image.format == "PNG"
        assert (folder / link).stat().st_size < 300_000  # small pictures
    for i in range(len(rec)):  # per frame: photo, depth, confidence (+ the consistent mask)
        for kind in ("photo", "depth", "confidence", "consistent"):
            assert f"frame_{i:04d}_{kind}.png" in links
    for name in ("top_view.png", "side_view.png", "consistency.png", "depth_colorbar.png", "confidence_colorbar.png"):
        assert name in links
    with Image.open(folder / "frame_0000_photo.png") as photo:
        assert photo.size == (112, 112)
    text = page.read_text(encoding="utf-8")
    assert "orbit/" in text and "conf &gt;= percentile 50" in text  # the settings
    assert "inference" in text and "1.25 s" in text and "consistency check (report)" in text  # the timings
    assert "<th>model input</th><td>112 × 112 (crop)</td>" in text and "normalised" in text
    consistency = json.loads((folder / REPORT_CONSISTENCY).read_text())
    assert len(consistency["frames"]) == len(rec) and consistency["checks"]
    for frame in consistency["frames"]:
        assert f"frame-{frame['index']}" in text and frame["verdict"] in text
    manifest = json.loads((exported / MANIFEST_NAME).read_text())
    assert manifest["outputs"]["report"] == "report"
    listed = {name for name in manifest["files"] if name.startswith("report/")}
    assert listed == {f"report/{p.name}" for p in folder.iterdir()}


def test_views_show_the_cameras_and_points(rec, exported: Path) -> None:
    with Image.open(exported / "report" / "top_view.png") as top:
        pixels = np.asarray(top.convert("RGB"), dtype=np.int64)
    assert top.size == (520, 460)
    verdict_colours = [(40, 160, 60), (220, 40, 40), (130, 130, 130)]  # frusta drawn in their verdict's colour
    found = [np.any(np.abs(pixels - np.array(c)).sum(axis=-1) < 30) for c in verdict_colours]
    assert any(found)
    assert (np.abs(pixels - 255).sum(axis=-1) > 60).mean() > 0.02  # more than axes on white: points


@needs_chromium
def test_report_renders_in_chromium_without_errors(exported: Path, tmp_path: Path) -> None:
    result = open_page((exported / "report" / REPORT_HTML).resolve().as_uri(), width=1100, height=900, full_page=True)
    assert result.errors == []
    (tmp_path / "report.png").write_bytes(result.screenshot)
    with Image.open(tmp_path / "report.png") as shot:
        assert shot.width == 1100 and shot.height > 2000  # the whole page: views, consistency, frames
        assert np.asarray(shot.convert("L")).std() > 20  # not blank


def test_broken_picture_fails_the_export_and_changes_nothing(rec, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    export(rec, out, ["npz"])
    before = sorted(p.name for p in out.iterdir())

    def broken(rec, path: Path, plan) -> None:
        write_report(rec, path, check_consistency=False)
        (path / "top_view.png").unlink()

    monkeypatch.setitem(export_module.WRITERS, "report", broken)
    with pytest.raises(ExportError, match="report export did not read back.*top_view.png"):
        export(rec, out, ["npz", "report"], overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == before


def test_report_without_checks_and_bad_arguments(rec, tmp_path: Path) -> None:
    page = write_report(rec, tmp_path / "plain", check_consistency=False, title="Plain <run>")
    text = page.read_text(encoding="utf-8")
    assert "Not checked for this report" in text and "Plain &lt;run&gt;" in text
    assert not (tmp_path / "plain" / REPORT_CONSISTENCY).exists()
    assert "consistency.png" not in pictures(page) and "frame_0000_consistent.png" not in pictures(page)
    assert all((tmp_path / "plain" / link).is_file() for link in pictures(page))
    with pytest.raises(ValueError, match="max_points must be a positive integer, got 0"):
        write_report(rec, tmp_path / "x", max_points=0)
    with pytest.raises(ValueError, match="thumbnail_size must be an integer in \\[16, 4096\\], got 8"):
        write_report(rec, tmp_path / "x", thumbnail_size=8)
    with pytest.raises(ValueError, match="timings\\['inference'\\]: expected a number of seconds, got 'fast'"):
        write_report(rec, tmp_path / "x", timings={"inference": "fast"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="covers 2 frames, the reconstruction has 4"):
        write_report(rec, tmp_path / "x", consistency={"checks": ["depth"], "frames": [{}, {}]})
    with pytest.raises(ValueError, match="report_options: unknown option\\(s\\) \\['colour'\\]"):
        export(rec, tmp_path / "y", ["report"], report_options={"colour": "red"})
