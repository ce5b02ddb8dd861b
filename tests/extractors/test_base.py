"""`ImageExtractor.forward`: compiled for tf32/bf16 on CUDA, the eager network when compiling fails, exact eager."""

from __future__ import annotations

import warnings

import pytest
import torch

from gan_eval.errors import GanEvalWarning
from gan_eval.extractors.base import ImageExtractor


class Tiny(ImageExtractor):
    name = "tiny"
    resize = "none"
    input_size = 4
    weights_sha256 = "0" * 64

    def __init__(self) -> None:
        super().__init__("cpu", "exact")
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten())


@pytest.fixture
def batch() -> torch.Tensor:
    return torch.rand(5, 3, 4, 4)


def test_exact_precision_runs_the_eager_network_without_compiling(monkeypatch, batch) -> None:
    monkeypatch.setattr(torch, "compile", lambda *a, **k: pytest.fail("compiled in exact precision"))
    tiny = Tiny()
    assert not tiny.compile_wanted()
    assert torch.equal(tiny.forward(batch), tiny.net(batch))


def test_compiled_once_and_equal_to_eager(monkeypatch, batch) -> None:
    real_compile, calls = torch.compile, []

    def compile_eagerly(net, **kwargs):
        calls.append(net)
        return real_compile(net, backend="eager")  # the compile machinery without a C++ toolchain

    monkeypatch.setattr(torch, "compile", compile_eagerly)
    tiny = Tiny()
    monkeypatch.setattr(tiny, "compile_wanted", lambda: True)
    first, second = tiny.forward(batch), tiny.forward(batch[:2])
    assert len(calls) == 1
    assert torch.allclose(first, tiny.net(batch)) and torch.allclose(second, tiny.net(batch[:2]))


@pytest.mark.parametrize("when", ["compiling", "first-call"])
def test_a_failed_compilation_falls_back_to_eager_with_one_warning(monkeypatch, batch, when: str) -> None:
    def broken_compile(net, **kwargs):
        if when == "compiling":
            raise RuntimeError("no compiler here\nsecond line")

        def fails(x):
            raise RuntimeError("inductor failed")

        return fails

    monkeypatch.setattr(torch, "compile", broken_compile)
    tiny = Tiny()
    monkeypatch.setattr(tiny, "compile_wanted", lambda: True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = tiny.forward(batch)
        again = tiny.forward(batch)
    messages = [str(w.message) for w in caught if issubclass(w.category, GanEvalWarning)]
    assert len(messages) == 1 and "torch.compile of tiny failed" in messages[0] and "running it eagerly" in messages[0]
    assert "\n" not in messages[0]
    assert torch.equal(out, tiny.net(batch)) and torch.equal(again, out)
