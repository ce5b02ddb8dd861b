"""Gradient norms: read at each optimizer step without changing the training, equal to a float64 recomputation."""

from __future__ import annotations

import math

import pytest
import torch
from toy_training import LATENT, Config, mlp, ring8, train

from gan_eval.monitor import Monitor, read_run
from gan_eval.monitor.gradients import GradientWatch


def _parameters(*networks: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for net in networks for p in net.parameters()]


@pytest.mark.parametrize("loss", ["ns", "wgan-gp"])
def test_watched_training_is_bit_identical(tmp_path, loss):
    config = Config(loss=loss, steps=40, d_steps=2)
    plain = _parameters(*train(config))
    with Monitor(tmp_path / "run", every=10, n_samples=100, tensorboard=False, stderr=False) as monitor:
        # evaluate() runs every 10 steps too: it must not disturb the global random state either.
        watched = _parameters(*train(config, monitor))
    assert len(plain) == len(watched)
    for a, b in zip(plain, watched, strict=True):
        assert torch.equal(a, b)
    gradients = [e for e in read_run(tmp_path / "run").events if e["kind"] == "gradients"]
    assert [e["step"] for e in gradients] == list(range(40))
    assert all(e["d_steps"] == 2 and e["g_steps"] == 1 for e in gradients)


def test_norms_equal_float64_recomputation(tmp_path):
    """Each optimizer step's norm is the L2 norm of all gradients it applies, after every backward pass."""
    torch.manual_seed(0)
    rng = torch.Generator().manual_seed(1)
    G, D = mlp(LATENT, 2, 16), mlp(2, 1, 16)
    opt_g, opt_d = torch.optim.SGD(G.parameters(), 0.01), torch.optim.SGD(D.parameters(), 0.01)
    expected_d, expected_g = [], []

    def norm(net: torch.nn.Module) -> float:
        return math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in net.parameters()))

    with Monitor(tmp_path / "run", every=None, tensorboard=False, stderr=False) as monitor:
        monitor.watch(G, D)
        for step in range(5):
            opt_d.zero_grad()
            for _ in range(2):  # gradient accumulation: two backward passes, one optimizer step
                real, fake = ring8(8, rng), G(torch.randn(8, LATENT)).detach()
                (D(fake).mean() - D(real).mean()).backward()
            expected_d.append(norm(D))
            opt_d.step()
            for _ in range(3):  # three G updates per step: the record keeps their mean and max
                opt_g.zero_grad()
                (-D(G(torch.randn(8, LATENT)))).mean().backward()
                expected_g.append(norm(G))
                opt_g.step()
            monitor.log(step, loss=0.0)
    events = [e for e in read_run(tmp_path / "run").events if e["kind"] == "gradients"]
    assert len(events) == 5
    for step, event in enumerate(events):
        g = expected_g[3 * step : 3 * step + 3]
        assert event["d_norm"] == pytest.approx(expected_d[step], rel=1e-5)
        assert event["d_norm_max"] == pytest.approx(expected_d[step], rel=1e-5)
        assert event["g_norm"] == pytest.approx(sum(g) / 3, rel=1e-5)
        assert event["g_norm_max"] == pytest.approx(max(g), rel=1e-5)
        assert event["g_steps"] == 3 and event["d_steps"] == 1


def test_unwatched_optimizers_and_missing_gradients_are_ignored():
    G, D, other = mlp(2, 2, 4), mlp(2, 1, 4), mlp(2, 1, 4)
    watch = GradientWatch({"G": G, "D": D})
    try:
        opt_other = torch.optim.SGD(other.parameters(), 0.1)
        other(torch.randn(3, 2)).sum().backward()
        opt_other.step()
        torch.optim.SGD(G.parameters(), 0.1).step()  # no gradients yet: nothing to measure
        assert watch.drain() == {}
    finally:
        watch.remove()


def test_close_removes_the_hook(tmp_path):
    G, D = mlp(2, 2, 4), mlp(2, 1, 4)
    monitor = Monitor(tmp_path / "run", every=None, tensorboard=False, stderr=False)
    monitor.watch(G, D)
    monitor.close()
    opt = torch.optim.SGD(D.parameters(), 0.1)
    D(torch.randn(3, 2)).sum().backward()
    opt.step()
    assert monitor._watch is not None and monitor._watch.drain() == {}
