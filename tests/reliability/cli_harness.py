"""Helpers of the reliability tests: one-line error checks, file snapshots, small image folders, an HTTP server."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class CliRun:
    """What one command printed, and its exit code."""

    code: int
    out: str
    err: str


def assert_refused(run: CliRun, *culprits: str | Path, message: str = "") -> str:
    """Exit 2, no traceback, and stderr exactly one `error: ...` line naming every culprit (and `message`)."""
    assert run.code == 2, (run.code, run.err)
    assert "Traceback" not in run.err
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    line = lines[0]
    assert line.startswith("error: "), line
    for culprit in culprits:
        assert str(culprit) in line, f"{culprit} not named in: {line}"
    assert message in line, f"{message!r} not in: {line}"
    return line


def files_under(*roots: Path) -> set[Path]:
    """Every file (hidden and temporary ones included) under the given folders."""
    return {p for root in roots if root.exists() for p in root.rglob("*") if not p.is_dir()}


def write_png(path: Path, size: int = 16, seed: int = 0) -> Path:
    """A random RGB PNG of `size` x `size` pixels."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def image_folder(path: Path, count: int, size: int = 16, seed: int = 0) -> Path:
    """A folder of `count` random PNGs named `000.png`, `001.png`, ..."""
    for index in range(count):
        write_png(path / f"{index:03d}.png", size, seed + index)
    return path


class _PayloadHandler(http.server.BaseHTTPRequestHandler):
    """Serves `payload` at any path, `chunk` bytes at a time with `delay` seconds between chunks."""

    protocol_version = "HTTP/1.1"
    payload: bytes = b""
    chunk: int = 1 << 20
    delay: float = 0.0

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for start in range(0, len(self.payload), self.chunk):
                self.wfile.write(self.payload[start : start + self.chunk])
                self.wfile.flush()
                time.sleep(self.delay)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client was killed mid-transfer: what the fault tests do on purpose


@contextlib.contextmanager
def serving(payload: bytes, chunk: int = 1 << 20, delay: float = 0.0) -> Iterator[str]:
    """Base URL of an HTTP server on 127.0.0.1 serving `payload` (slowly, with `delay`); stopped after the block."""
    handler = type("Handler", (_PayloadHandler,), {"payload": payload, "chunk": chunk, "delay": delay})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
