"""The default model of vggt_py.inference.api: VGGT-1B when available, else the bundled model, said aloud."""

from __future__ import annotations

import http.server
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from vggt_py import hub
from helpers import sane_tiny_model
from vggt_py.bundled import bundled_model_card
from vggt_py.hub import WeightsNotAvailableError
from vggt_py.inference import api
from vggt_py.inference.api import (
    DEFAULT_MODEL,
    DefaultModelFallbackWarning,
    ModelChoice,
    hub_reachable,
    load_default_model,
    load_model,
    model_name,
    reconstruct,
    resolve_default_model,
)

BUNDLED = "bundled:small-synthetic"


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache (HF_HOME in tmp_path) and offline mode off."""
    from huggingface_hub import constants

    cache = tmp_path / "hf_home" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return cache


@pytest.fixture
def hf_offline(empty_hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_HUB_OFFLINE=1 (the env var and huggingface_hub's constant, which is read at import)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(api, "hub_reachable", _must_not_probe)


def _must_not_probe(timeout: float = 0.0) -> bool:
    raise AssertionError("the hub must not be probed here")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def local_server() -> Iterator[str]:
    """An HTTP server on localhost answering every HEAD with 200."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # http.server's naming
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _populate_hub_cache(cache: Path, repo_id: str, folder: Path) -> None:
    """Lay out a Hugging Face cache entry for ``repo_id`` holding the files of ``folder``."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    for path in folder.iterdir():
        (snapshot / path.name).write_bytes(path.read_bytes())


def _photos(folder: Path, count: int = 2) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


# ---------------------------------------------------------------------------------------------
# Fallback


def test_hf_offline_falls_back_with_a_warning(hf_offline: None) -> None:
    with pytest.warns(DefaultModelFallbackWarning) as record:
        model = load_model(None, "cpu")
    assert len(record) == 1 and issubclass(record[0].category, UserWarning)
    message = str(record[0].message)
    assert "\n" not in message
    assert message.startswith(f"{DEFAULT_MODEL} not used: HF_HUB_OFFLINE is set")
    assert "bundled model small-synthetic" in message and "synthetic-scene model" in message
    assert str(bundled_model_card()) in message and f"hf download {DEFAULT_MODEL}" in message
    assert model_name(model) == BUNDLED and model.config.img_size == 224 and model.track_head is None


def test_reconstruct_with_the_default_records_the_bundled_model(hf_offline: None, tmp_path: Path) -> None:
    with pytest.warns(DefaultModelFallbackWarning, match="not used"):
        rec = reconstruct(_photos(tmp_path / "photos"), None, device="cpu")
    assert rec.model_name == BUNDLED and rec.metadata["model"] == BUNDLED
    assert rec.image_size == (168, 224) and len(rec) == 2


def test_offline_flag_falls_back_without_probing(empty_hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "hub_reachable", _must_not_probe)
    model, choice = load_default_model("cpu", offline=True)
    assert choice.spec == BUNDLED and choice.is_fallback
    assert "offline mode was asked for" in (choice.fallback_reason or "")
    assert model_name(model) == BUNDLED


def test_unreachable_hub_falls_back_fast(empty_hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    start = time.perf_counter()
    choice = resolve_default_model()
    assert time.perf_counter() - start < 2.0  # connection refused: no retries, no waiting
    assert choice == ModelChoice(
        BUNDLED, f"the Hugging Face hub ({endpoint}) cannot be reached and it is not in the local cache"
    )


def test_failed_download_falls_back(empty_hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(repo_id: str, **kwargs: object) -> tuple[Path | None, Path]:
        raise WeightsNotAvailableError(f"hub repo '{repo_id}' (revision main) not found: 401 gated\nmore")

    monkeypatch.setattr(api, "hub_reachable", lambda timeout=0.0: True)
    monkeypatch.setattr(hub, "_download", refuse)
    assert resolve_default_model() == ModelChoice(DEFAULT_MODEL)  # reachable: the download is tried
    with pytest.warns(DefaultModelFallbackWarning) as record:
        model = load_model(None, "cpu")
    message = str(record[0].message)
    assert "it could not be fetched (hub repo 'facebook/VGGT-1B' (revision main) not found: 401 gated more)" in message
    assert model_name(model) == BUNDLED


# ---------------------------------------------------------------------------------------------
# No fallback


def test_cached_default_is_used_silently(empty_hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = sane_tiny_model(img_size=56)
    tiny.save_pretrained(tmp_path / "tiny")
    _populate_hub_cache(empty_hf_cache, DEFAULT_MODEL, tmp_path / "tiny")
    monkeypatch.setattr(api, "hub_reachable", _must_not_probe)  # the cache is looked at first
    download = hub._download
    asked_hub: list[bool] = []

    def spy(repo_id: str, **kwargs: Any) -> tuple[Path | None, Path]:
        asked_hub.append(not kwargs["local_files_only"])
        return download(repo_id, **kwargs)

    monkeypatch.setattr(hub, "_download", spy)
    assert resolve_default_model() == ModelChoice(DEFAULT_MODEL, cached=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DefaultModelFallbackWarning)
        model = load_model(None, "cpu")
    assert model_name(model) == DEFAULT_MODEL and model.config == tiny.config
    assert asked_hub == [False, False, False]  # cache checks and the load: no update check on the hub


def test_explicit_bundled_model_is_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "resolve_default_model", lambda **kwargs: pytest.fail("the default was consulted"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DefaultModelFallbackWarning)
        model = load_model("bundled", "cpu")
    assert model_name(model) == BUNDLED  # the alias is recorded in its full form


def test_model_object_is_unnamed_and_query_points_need_a_track_head(tmp_path: Path) -> None:
    model = load_model("bundled", "cpu")
    photos = _photos(tmp_path / "photos")
    with pytest.raises(ValueError, match="need a model with a track head; bundled:small-synthetic has none"):
        reconstruct(photos, model, query_points=np.array([[10.0, 10.0]]), device="cpu")
    rec = reconstruct(photos, sane_tiny_model(img_size=56), device="cpu")
    assert rec.model_name is None and rec.metadata["model"] is None


# ---------------------------------------------------------------------------------------------
# The hub probe


def test_hub_reachable_with_a_local_server(local_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", local_server)
    assert hub_reachable(2.0)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert not hub_reachable(2.0)  # offline mode: never reachable


def test_hub_probe_is_bounded_by_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        start = time.perf_counter()
        assert not hub_reachable(0.5)
        assert 0.4 < time.perf_counter() - start < 1.5


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan")])
def test_hub_probe_rejects_bad_timeouts(timeout: float) -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        hub_reachable(timeout)
