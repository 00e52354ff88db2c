"""An export as one transaction: staged, verified, swapped in, recorded in a manifest.

:func:`vggt_py.inference.export.export` writes every format into a staging folder inside the output
folder (``.vggt-staging-<run id>``), reads every file back (:data:`VERIFIERS` in ``export.py``), and
only then swaps the new files in. The previous export's files are first moved aside into
``.vggt-previous-<run id>``; if any move fails they are put back, and they are deleted only once the
new export is complete. The manifest (:data:`MANIFEST_NAME`) is moved in last: it names the run
(id, time, model, formats) and every file with its size and SHA-256, so a folder whose manifest
lists its files holds exactly one run.

A run killed at any point leaves either the previous export or the new one plus hidden leftovers
(``.vggt-staging-*``, ``.vggt-previous-*``, ``.*.tmp``); the next export into the folder removes
them, and restores the previous export first when a kill interrupted the swap itself
(see docs/guarantees.md).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vggt_py.errors import OutputError
from vggt_py.utils.io import atomic_write_text

__all__ = [
    "DERIVED_NAMES",
    "MANIFEST_NAME",
    "PREVIOUS_PREFIX",
    "STAGING_PREFIX",
    "ExportError",
    "build_manifest",
    "clean_leftovers",
    "file_record",
    "new_run_id",
    "read_manifest",
    "swap_in",
    "write_manifest",
]

MANIFEST_NAME = "vggt-export.json"
MANIFEST_VERSION = 1
# Files other commands derive from an export (``vggt-py check`` writes consistency.json next to the
# NPZ); a new export into the folder removes them, since they describe the previous run.
DERIVED_NAMES: tuple[str, ...] = ("consistency.json",)
STAGING_PREFIX = ".vggt-staging-"
PREVIOUS_PREFIX = ".vggt-previous-"


class ExportError(OutputError):
    """An export could not be written or did not read back; the output folder was left unchanged."""


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(root: Path, entry: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"bytes", "sha256"}}`` for a file, or for every file under a folder."""
    files = sorted(p for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else [entry]
    return {p.relative_to(root).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files}


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The manifest in ``out``, or None when there is none (or it is not a vggt-py manifest)."""
    path = out / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and "run_id" in data else None


def build_manifest(
    run_id: str, model: str | None, frames: int, formats: list[str], entries: dict[str, str], root: Path
) -> dict[str, Any]:
    files: dict[str, dict[str, Any]] = {}
    for name in entries.values():
        files.update(file_record(root, root / name))
    return {
        "manifest_version": MANIFEST_VERSION,
        "run_id": run_id,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": model,
        "frames": frames,
        "formats": formats,
        "outputs": entries,
        "files": files,
    }


def _move_back(backup: Path, out: Path) -> None:
    """Move every entry of ``backup`` into ``out`` (replacing what is there), then remove ``backup``."""
    for entry in sorted(backup.iterdir()):
        target = out / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(entry, target)
    backup.rmdir()


def clean_leftovers(out: Path, names: Iterable[str]) -> list[Path]:
    """Remove what killed runs left in ``out``; returns what was removed (or restored from).

    A ``.vggt-previous-*`` folder with no manifest in ``out`` means a run was killed while swapping:
    the previous export is moved back first. Staging folders, ``.<name>.*.tmp`` files of the known
    output ``names`` and pycolmap staging folders (``sparse/.colmap-*``) are removed.
    """
    removed: list[Path] = []
    if not out.is_dir():
        return removed
    for backup in sorted(out.glob(PREVIOUS_PREFIX + "*")):
        if backup.is_dir() and read_manifest(out) is None and any(backup.iterdir()):
            _move_back(backup, out)
        else:
            shutil.rmtree(backup, ignore_errors=True)
        removed.append(backup)
    for staging in sorted(out.glob(STAGING_PREFIX + "*")):
        shutil.rmtree(staging, ignore_errors=True)
        removed.append(staging)
    for name in (*names, MANIFEST_NAME, *DERIVED_NAMES):
        for tmp in out.glob(f".{name}.*.tmp"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            removed.append(tmp)
        folder = out / name
        if folder.is_dir():
            for tmp in [*folder.glob(".colmap-*"), *folder.glob(".*.tmp")]:
                shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


def swap_in(out: Path, staging: Path, run_id: str, new_names: list[str], old_names: Iterable[str]) -> None:
    """Replace ``old_names`` in ``out`` by ``new_names`` from ``staging`` (then the manifest, last).

    The old entries go to ``.vggt-previous-<run_id>`` first; on any failure the new entries are
    removed and the old ones put back before the error propagates.
    """
    backup = out / f"{PREVIOUS_PREFIX}{run_id}"
    backup.mkdir()
    moved_in: list[str] = []
    try:
        for name in dict.fromkeys([*old_names, MANIFEST_NAME]):
            path = out / name
            if path.exists() or path.is_symlink():
                os.replace(path, backup / name)
        for name in [*new_names, MANIFEST_NAME]:
            os.replace(staging / name, out / name)
            moved_in.append(name)
    except BaseException:
        for name in moved_in:
            path = out / name
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        _move_back(backup, out)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def write_manifest(staging: Path, manifest: dict[str, Any]) -> None:
    atomic_write_text(staging / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
