"""Weights: loading and checking both formats, the cache, resolution order, and the real download code.

Downloads go to an HTTP server on 127.0.0.1 that the tests start; it serves a
real state dict, a file with the wrong checksum, transfers cut short (by
Content-Length and by chunked encoding), and a 404.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import run_cli

import gan_eval
from gan_eval.errors import GanEvalError
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.inception.weights import (
    HEAD_LOGITS,
    HEAD_POOL3,
    cached_weights,
    download_weights,
    import_weights,
    load_weights,
    resolve_weights_path,
    weights_cache_dir,
)

NAME_TEMPLATE = "weights-inception-2015-12-05-{}.pth"


class _Pickled:
    """An arbitrary object: `torch.load(weights_only=True)` must refuse it."""


class _Payload:
    """Unpickling this would create `marker`; `weights_only` loading must never run it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="session")
def state_dict_file(real_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real weights saved as a plain state dict `.pth` (~90 MB), written once per session."""
    path = tmp_path_factory.mktemp("state-dict") / "inception.pth"
    torch.save(load_weights(real_weights).state_dict, path)
    return path


@pytest.fixture(scope="session")
def state_dict_sha(state_dict_file: Path) -> str:
    return hashlib.sha256(state_dict_file.read_bytes()).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    good: Path

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.close_connection = True
        kind = self.path.strip("/").split("/", 1)[0]
        data = self.good.read_bytes() if kind in ("good", "short", "chunked") else b""
        if kind == "good":
            self._head(200, {"Content-Length": str(len(data))})
            self.wfile.write(data)
        elif kind == "mismatch":
            body = b"not the weights you are looking for"
            self._head(200, {"Content-Length": str(len(body))})
            self.wfile.write(body)
        elif kind == "short":
            self._head(200, {"Content-Length": str(len(data))})
            self.wfile.write(data[: len(data) // 3])
        elif kind == "chunked":
            self._head(200, {"Transfer-Encoding": "chunked"})
            for start in range(0, len(data) // 3, 1 << 20):
                chunk = data[start : start + (1 << 20)]
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        else:
            self._head(404, {"Content-Length": "0"})
        self.wfile.flush()

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Connection", "close")
        self.end_headers()


@contextlib.contextmanager
def _serving(good: Path) -> Iterator[str]:
    """Base URL of a local HTTP server whose `good`, `short` and `chunked` paths serve `good`."""
    handler = type("Handler", (_Handler,), {"good": good})
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


@pytest.fixture
def server(state_dict_file: Path) -> Iterator[str]:
    """The local server, serving the real weights as a state dict; stopped after the test."""
    with _serving(state_dict_file) as url:
        yield url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cache_entries() -> list[str]:
    """The files in the Inception cache folder (not the other spaces' folders, nor the records')."""
    folder = weights_cache_dir()
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


# --- download ---------------------------------------------------------------------------------------------


def test_download_lands_in_cache_with_matching_sha(
    server: str, state_dict_sha: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = NAME_TEMPLATE.format(state_dict_sha[:8])
    monkeypatch.setenv("GAN_EVAL_WEIGHTS_URL", f"{server}/good/{name}")
    path = download_weights(progress=False)
    assert path == weights_cache_dir() / name
    assert _cache_entries() == [name]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == state_dict_sha
    assert load_weights(path).heads == (HEAD_POOL3,)


def test_checksum_mismatch_leaves_nothing(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAN_EVAL_WEIGHTS_URL", f"{server}/mismatch/{NAME_TEMPLATE.format('0123abcd')}")
    with pytest.raises(GanEvalError, match=r"sha256 .*expected 0123abcd"):
        download_weights(progress=False)
    assert _cache_entries() == []


@pytest.mark.parametrize("kind", ["short", "chunked"])
def test_transfer_cut_short_leaves_nothing(
    kind: str, server: str, state_dict_sha: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAN_EVAL_WEIGHTS_URL", f"{server}/{kind}/{NAME_TEMPLATE.format(state_dict_sha[:8])}")
    with pytest.raises(GanEvalError, match="cut short"):
        download_weights(progress=False)
    assert _cache_entries() == []


def test_http_error_is_reported(server: str) -> None:
    with pytest.raises(GanEvalError, match="HTTP 404"):
        download_weights(f"{server}/missing/{NAME_TEMPLATE.format('0123abcd')}", progress=False)
    assert _cache_entries() == []


def test_unreachable_server_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_free_port()}/{NAME_TEMPLATE.format('0123abcd')}"
    monkeypatch.setenv("GAN_EVAL_WEIGHTS_URL", url)
    with pytest.raises(GanEvalError, match=r"cannot download weights from .*127\.0\.0\.1"):
        download_weights(progress=False, timeout=5)
    assert _cache_entries() == []


def test_url_without_sha_prefix_is_refused() -> None:
    with pytest.raises(GanEvalError, match="no sha256 prefix"):
        download_weights("http://127.0.0.1:1/inception.pth", progress=False)


# --- resolution order -------------------------------------------------------------------------------------


def test_resolution_order(tmp_path: Path, server: str, state_dict_sha: str, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, env = tmp_path / "explicit.pth", tmp_path / "env.pth"
    explicit.write_bytes(b"a")
    env.write_bytes(b"b")
    name = NAME_TEMPLATE.format(state_dict_sha[:8])
    monkeypatch.setenv("GAN_EVAL_WEIGHTS_URL", f"{server}/good/{name}")

    # Nothing else: download.
    downloaded = resolve_weights_path(progress=False)
    assert downloaded == weights_cache_dir() / name
    # The cache now wins over a download (the URL would fail if it were used).
    monkeypatch.setenv("GAN_EVAL_WEIGHTS_URL", f"{server}/mismatch/{NAME_TEMPLATE.format('0123abcd')}")
    assert resolve_weights_path(progress=False) == downloaded
    # GAN_EVAL_WEIGHTS wins over the cache.
    monkeypatch.setenv("GAN_EVAL_WEIGHTS", str(env))
    assert resolve_weights_path(progress=False) == env
    # An explicit path wins over everything.
    assert resolve_weights_path(explicit, progress=False) == explicit


def test_env_weights_that_do_not_exist_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAN_EVAL_WEIGHTS", str(tmp_path / "nope.pth"))
    with pytest.raises(GanEvalError, match=r"GAN_EVAL_WEIGHTS=.*nope\.pth"):
        resolve_weights_path()


def test_failed_download_during_resolution_suggests_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAN_EVAL_WEIGHTS_URL", f"http://127.0.0.1:{_free_port()}/{NAME_TEMPLATE.format('0123abcd')}")
    with pytest.raises(GanEvalError, match="weights import"):
        resolve_weights_path(progress=False)


# --- formats and checks -----------------------------------------------------------------------------------


def test_torchscript_and_state_dict_give_the_same_tensors(real_weights: Path, state_dict_file: Path) -> None:
    script, plain = load_weights(real_weights), load_weights(state_dict_file)
    assert script.file_format == "torchscript-tf-names"
    assert plain.file_format == "state-dict"
    assert script.heads == plain.heads == (HEAD_POOL3,)
    assert HEAD_LOGITS not in script.heads
    assert script.state_dict.keys() == plain.state_dict.keys()
    assert all(torch.equal(script.state_dict[k], plain.state_dict[k]) for k in script.state_dict)


def test_import_copies_into_cache_once(real_weights: Path, state_dict_file: Path, state_dict_sha: str) -> None:
    script_dest = import_weights(real_weights)
    plain_dest = import_weights(state_dict_file)
    assert plain_dest.name == f"inception-2015-12-05-{state_dict_sha[:8]}.pth"
    assert script_dest.suffix == ".pt"
    assert import_weights(state_dict_file) == plain_dest
    assert cached_weights() == [plain_dest, script_dest]
    assert _cache_entries() == sorted([plain_dest.name, script_dest.name])


def _bad_weights(kind: str, folder: Path, real_weights: Path, state_dict_file: Path) -> Path:
    path = folder / f"{kind}.pth"
    if kind == "truncated-state-dict":
        path.write_bytes(state_dict_file.read_bytes()[: 1 << 20])
    elif kind == "truncated-torchscript":
        path = folder / f"{kind}.pt"
        path.write_bytes(real_weights.read_bytes()[: 1 << 20])
    elif kind == "random-bytes":
        path.write_bytes(os.urandom(4096))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "missing-keys":
        torch.save({"features.0.weight": torch.zeros(3)}, path)
    elif kind == "wrong-shapes":
        expected = load_weights(real_weights).state_dict
        torch.save({k: torch.zeros(1) for k in expected}, path)
    elif kind == "non-finite":
        state = {k: v.clone() for k, v in load_weights(real_weights).state_dict.items()}
        state["Mixed_7c.branch_pool.conv.weight"][0, 0, 0, 0] = float("nan")
        torch.save(state, path)
    elif kind == "pickled-object":
        torch.save({"Conv2d_1a_3x3.conv.weight": _Pickled()}, path)
    elif kind == "pickled-payload":
        torch.save({"x": _Payload(folder / "payload-ran")}, path)
    elif kind == "not-tensors":
        torch.save({"Conv2d_1a_3x3.conv.weight": "a string"}, path)
    return path


BAD_KINDS = [
    ("truncated-state-dict", "not a readable PyTorch state dict"),
    ("truncated-torchscript", "not a readable"),
    ("random-bytes", "not a readable PyTorch state dict"),
    ("empty", "not a readable PyTorch state dict"),
    ("missing-keys", r"missing Conv2d_1a_3x3\.conv\.weight"),
    ("wrong-shapes", r"has shape \(1,\), expected \(32, 3, 3, 3\)"),
    ("non-finite", r"non-finite values in Mixed_7c\.branch_pool\.conv\.weight"),
    ("pickled-object", "not a readable PyTorch state dict"),
    ("pickled-payload", "not a readable PyTorch state dict"),
    ("not-tensors", "does not hold a state dict of tensors"),
]


@pytest.mark.parametrize(("kind", "message"), BAD_KINDS, ids=[k for k, _ in BAD_KINDS])
def test_bad_weights_are_refused_and_not_cached(
    kind: str, message: str, tmp_path: Path, real_weights: Path, state_dict_file: Path
) -> None:
    path = _bad_weights(kind, tmp_path, real_weights, state_dict_file)
    with pytest.raises(GanEvalError, match=message) as raised:
        import_weights(path)
    assert str(path) in str(raised.value)
    assert "\n" not in str(raised.value)
    assert _cache_entries() == []
    assert not (tmp_path / "payload-ran").exists()


def test_missing_weights_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(GanEvalError, match="does not exist"):
        load_weights(tmp_path / "nope.pth")
    with pytest.raises(GanEvalError, match="is not a file"):
        load_weights(tmp_path)


def test_download_of_unusable_weights_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file with the right checksum but not Inception weights is removed after the check."""
    bogus = tmp_path / "bogus.pth"
    torch.save({"x": torch.zeros(2)}, bogus)
    sha = hashlib.sha256(bogus.read_bytes()).hexdigest()
    with _serving(bogus) as base, pytest.raises(GanEvalError, match="not usable"):
        download_weights(f"{base}/good/{NAME_TEMPLATE.format(sha[:8])}", progress=False)
    assert _cache_entries() == []


# --- a degenerate classifier (all zeros, or every row the same) gives IS 1 for any images ---------------


@pytest.fixture(scope="module", params=["zeros", "equal-rows"])
def degenerate_classifier_file(request, real_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real pool3 weights with a classifier whose unbiased logits are equal for every class."""
    state = dict(load_weights(real_weights).state_dict)
    row = torch.zeros(2048) if request.param == "zeros" else torch.linspace(-1, 1, 2048)
    state["fc.weight"], state["fc.bias"] = row.expand(1008, 2048).clone(), torch.randn(1008)
    path = tmp_path_factory.mktemp("degenerate") / f"{request.param}.pth"
    torch.save(state, path)
    return path


def test_a_degenerate_classifier_gives_no_logits_head(degenerate_classifier_file: Path) -> None:
    weights = load_weights(degenerate_classifier_file)
    assert weights.heads == (HEAD_POOL3,)
    reason = weights.unusable_heads[HEAD_LOGITS]
    assert reason.startswith(f"weights file {degenerate_classifier_file} has a degenerate classifier")
    assert "\n" not in reason


def test_inception_score_with_a_degenerate_classifier_is_refused(degenerate_classifier_file: Path, capsys) -> None:
    images = degenerate_classifier_file.parent / "images.npy"
    np.save(images, np.random.default_rng(0).integers(0, 256, (10, 16, 16, 3), dtype=np.uint8))
    code, _, err = run_cli(
        capsys, "report", images, images, "--metrics", "is", "--weights", degenerate_classifier_file, "--quiet"
    )
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: Inception Score (is) cannot be computed: weights file {degenerate_classifier_file} ")
    with pytest.raises(GanEvalError, match="has a degenerate classifier"):
        gan_eval.evaluate(
            images,
            images,
            "is",
            device="cpu",
            progress=False,
            extraction=ExtractionOptions(weights=degenerate_classifier_file),
        )
