"""Open a page in headless Chromium, collect its console errors and save a screenshot.

Used by the report and viewer tests, and runnable from the repository root (Chromium on the PATH or in
``$CHROMIUM``; the package importable, e.g. ``pip install -e .``)::

    python tests/browser.py page out/report/report.html -o report.png     # a file or a URL
    python tests/browser.py view out/ -o viewer.png                        # starts `vggt-py view out/` first

It drives Chromium through the DevTools protocol (``--remote-debugging-port``, the ``websockets``
package that viser depends on): console messages of level error, uncaught exceptions and failed loads
are collected; the exit status is 1 when there was any. WebGL (the viewer) runs on SwiftShader, the
CPU renderer that ships with Chromium.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PageResult", "chromium_binary", "open_page"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def chromium_binary() -> str | None:
    """``$CHROMIUM``, else the first Chromium or Chrome on the PATH; None when there is none."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageResult:
    screenshot: bytes  # PNG
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    messages: list[str] = field(default_factory=list)  # every console message, "level: text"
    value: Any = None  # the last value of the ``until`` expression


class _DevTools:
    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self.socket = connect(url, max_size=None, open_timeout=30)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        ident = self.next_id
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.events.append(json.loads(self.socket.recv(timeout=left)))
            except TimeoutError:
                return

    def close(self) -> None:
        self.socket.close()


def _launch(binary: str, width: int, height: int, profile: Path) -> tuple[subprocess.Popen, int]:
    command = [
        binary,
        "--headless=new",
        "--no-sandbox",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--hide-scrollbars",
        "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        "about:blank",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if port_file.is_file() and port_file.read_text().strip():
            return process, int(port_file.read_text().splitlines()[0])
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{binary} did not start its DevTools server")


def _page_socket(port: int) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.load(response)
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.1)
    raise RuntimeError("Chromium opened no page")


def _describe_event(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """(message, error) of a DevTools event."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled":
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
        line = f"{params.get('type')}: {text}"
        return line, line if params.get("type") in ("error", "assert") else None
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        text = details.get("exception", {}).get("description") or details.get("text", "exception")
        return f"exception: {text}", f"exception: {text}"
    if method == "Log.entryAdded":
        entry = params.get("entry", {})
        line = f"{entry.get('level')}: {entry.get('text')} {entry.get('url', '')}".strip()
        return line, line if entry.get("level") == "error" else None
    if method == "Network.loadingFailed" and not params.get("canceled"):
        line = f"load failed: {params.get('errorText')} ({params.get('type')})"
        return line, line
    return None, None


def open_page(
    url: str,
    *,
    width: int = 1280,
    height: int = 800,
    until: str | None = None,
    timeout: float = 60.0,
    settle: float = 1.0,
    full_page: bool = False,
    before_shot: str | None = None,
    binary: str | None = None,
) -> PageResult:
    """Load ``url`` in headless Chromium and return its screenshot and console errors.

    Args:
        until: a JavaScript expression polled after the load until it is truthy (``timeout``); its
            last value is returned. A page that never satisfies it raises ``TimeoutError``.
        settle: seconds to wait after the load (and ``until``) before the screenshot.
        full_page: capture the whole page height, not only the window.
        before_shot: JavaScript run just before the screenshot (e.g. :data:`HIDE_NOTICES`).
    """
    binary = binary or chromium_binary()
    if binary is None:
        raise FileNotFoundError("no Chromium found (install chromium, or set $CHROMIUM)")
    with tempfile.TemporaryDirectory(prefix="vggt-chromium-") as profile:
        process, port = _launch(binary, width, height, Path(profile))
        tools = None
        try:
            tools = _DevTools(_page_socket(port))
            for domain in ("Runtime", "Log", "Page", "Network"):
                tools.call(f"{domain}.enable")
            tools.call("Page.navigate", url=url)
            deadline = time.monotonic() + timeout
            while not any(e.get("method") == "Page.loadEventFired" for e in tools.events):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} did not finish loading in {timeout:g} s")
                tools.drain(0.2)
            value = None
            if until is not None:
                while True:
                    result = tools.call("Runtime.evaluate", expression=until, returnByValue=True)
                    value = result.get("result", {}).get("value")
                    if value:
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{url}: {until!r} stayed false for {timeout:g} s")
                    tools.drain(0.5)
            tools.drain(settle)
            if before_shot is not None:
                tools.call("Runtime.evaluate", expression=before_shot)
                tools.drain(0.3)
            params: dict[str, Any] = {"format": "png"}
            if full_page:
                metrics = tools.call("Page.getLayoutMetrics")
                size = metrics.get("cssContentSize") or metrics["contentSize"]
                params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
            shot = base64.b64decode(tools.call("Page.captureScreenshot", timeout=120, **params)["data"])
            result = PageResult(shot, value=value)
            for event in tools.events:
                message, error = _describe_event(event)
                if message:
                    result.messages.append(message)
                if error:
                    result.errors.append(error)
            return result
        finally:
            if tools is not None:
                try:
                    tools.call("Browser.close", timeout=5)
                except Exception:  # the browser may already be going away
                    pass
                tools.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# The viewer draws into a WebGL canvas; wait until it exists and has a size.
VIEWER_READY = "document.querySelectorAll('canvas').length > 0 && document.body.innerText.includes('points shown')"
# viser's notice that WebGL runs in software (SwiftShader) covers part of the scene; remove it before the shot.
HIDE_NOTICES = "document.querySelectorAll('.mantine-Notification-root').forEach(n => n.remove())"


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tests/browser.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    page = sub.add_parser("page", help="screenshot a page (a URL or an HTML file)")
    page.add_argument("target")
    view = sub.add_parser("view", help="start the viewer on a reconstruct output folder and screenshot it")
    view.add_argument("target", type=Path, help="output folder of vggt-py reconstruct (reconstruction.npz)")
    view.add_argument("--port", type=int, default=0, help="viewer port (default: a free one)")
    view.add_argument("--wait", type=float, default=8.0, help="seconds to let the scene arrive and draw (default 8)")
    for p in (page, view):
        p.add_argument("-o", "--output", type=Path, required=True, help="screenshot PNG")
        p.add_argument("--size", default="1280x800", help="window WIDTHxHEIGHT (default 1280x800)")
    page.add_argument("--full-page", action="store_true", help="capture the whole page height")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.what == "page":
        target = Path(args.target)
        url = target.resolve().as_uri() if target.exists() else args.target
        result = open_page(url, width=width, height=height, full_page=args.full_page)
    else:
        from vggt_py.inference.export import load_npz
        from vggt_py.inference.viewer import find_consistency, start_viewer

        rec = load_npz(args.target / "reconstruction.npz")
        consistency = find_consistency(args.target, len(rec))
        with start_viewer(rec, consistency=consistency, check_consistency=False, port=args.port) as viewer:
            print(f"viewer at {viewer.url}")
            result = open_page(
                viewer.url, width=width, height=height, until=VIEWER_READY, settle=args.wait, before_shot=HIDE_NOTICES
            )
    args.output.write_bytes(result.screenshot)
    for error in result.errors:
        print(f"console error: {error}", file=sys.stderr)
    print(f"wrote {args.output} ({len(result.screenshot):,} bytes, {len(result.errors)} console error(s))")
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(_main())
