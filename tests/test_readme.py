"""The README's Python examples run as written on a fresh offline machine (bundled model, no hub cache)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from helpers import SHARED, write_photos

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ROOM = SHARED / "examples" / "room" / "images"
SKIP_MARK = re.compile(r"<!--\s*not run:\s*(?P<reason>.*?)\s*-->\s*$")
PHOTOS = 2  # photos copied into the example's photos/ folder
PHOTO_WIDTH = 320  # shrunk: the bundled model works at 224 px anyway
TIMEOUT_S = 120


def python_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """``(line, code, skip reason or None)`` of each ```python block; the reason comes from a
    ``<!-- not run: REASON -->`` comment on the last non-blank line before the block."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i + 1
            end = start
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            if end == len(lines):
                raise ValueError(f"README line {i + 1}: a ```python block is never closed")
            before = next((line for line in reversed(lines[:i]) if line.strip()), "")
            mark = SKIP_MARK.search(before.strip())
            blocks.append((start, "\n".join(lines[start:end]) + "\n", mark.group("reason") if mark else None))
            i = end
        i += 1
    return blocks


def test_the_skip_mark_is_read():
    text = "a\n\n```python\nx = 1\n```\n<!-- not run: needs VGGT-1B -->\n\n```python\ny = 2\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n", None), (8, "y = 2\n", "needs VGGT-1B")]
    with pytest.raises(ValueError, match="never closed"):
        python_blocks("```python\nz = 3\n")


def _photos(folder: Path) -> Path:
    if not ROOM.is_dir():
        return write_photos(folder, (PHOTO_WIDTH, 240), PHOTOS)
    folder.mkdir(parents=True)
    for path in sorted(ROOM.iterdir())[:PHOTOS]:
        with Image.open(path) as image:
            height = round(image.height * PHOTO_WIDTH / image.width)
            image.convert("RGB").resize((PHOTO_WIDTH, height)).save(folder / f"{path.stem}.png")
    return folder


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_examples():
    assert [line for line, _, reason in BLOCKS if reason is None], "no runnable ```python block in the README"


@pytest.mark.parametrize(("line", "code", "reason"), BLOCKS, ids=[f"README.md:{line}" for line, _, _ in BLOCKS])
def test_readme_python_block_runs_offline(line: int, code: str, reason: str | None, tmp_path: Path):
    if reason is not None:
        pytest.skip(f"README.md:{line} is marked not run: {reason}")
    _photos(tmp_path / "photos")
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf_home"),  # an empty cache: VGGT-1B is not there, as on a fresh machine
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    )
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert result.returncode == 0, f"README.md:{line} failed:\n{result.stderr[-4000:]}"
