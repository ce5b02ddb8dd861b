"""Sampling: seeded, independent of the batch size, labels balanced, pixels mapped as written here."""

from __future__ import annotations

import pytest
import torch

from gan_eval import count_limits
from gan_eval.errors import GanEvalError
from gan_eval.models.checkpoint import GeneratorConfig, build_generator
from gan_eval.models.sampling import balanced_labels, images_to_uint8, sample
from gan_eval.models.training import make_config, training_data


def built(model: str, data: str) -> tuple[torch.nn.Module, GeneratorConfig]:
    config = make_config(model, training_data(data), steps=1, seed=0)
    torch.manual_seed(3)
    generator = build_generator(config)
    # Non-trivial batch-norm statistics, so eval mode differs visibly from train mode.
    for name, buffer in generator.named_buffers():
        if name.endswith("running_mean"):
            buffer.uniform_(-0.5, 0.5)
        elif name.endswith("running_var"):
            buffer.uniform_(0.5, 2.0)
    return generator, config


@pytest.mark.parametrize(("model", "data"), [("dcgan", "digits"), ("cgan", "digits"), ("wgan-gp", "ring8")])
def test_seeded_and_batch_size_independent(model: str, data: str) -> None:
    generator, config = built(model, data)
    a = sample(generator, config, 37, latent_seed=5)
    assert torch.equal(a, sample(generator, config, 37, latent_seed=5))
    for batch_size in (1, 6):
        assert torch.equal(a, sample(generator, config, 37, latent_seed=5, batch_size=batch_size))
    assert not torch.equal(a, sample(generator, config, 37, latent_seed=6))
    if config.is_images:
        assert a.dtype == torch.uint8 and a.shape == (37, 3, 32, 32)
    else:
        assert a.dtype == torch.float32 and a.shape == (37, 2)


def test_eval_mode_and_mode_restored() -> None:
    generator, config = built("dcgan", "digits")
    generator.train()
    drawn = sample(generator, config, 4, latent_seed=1)
    assert generator.training
    z = torch.randn(4, config.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = images_to_uint8(generator.eval()(z))
    assert torch.equal(drawn, expected)


def test_images_to_uint8_formula() -> None:
    values = [-1.5, -1.0, -0.999, -0.5, 0.0, 0.0039, 0.5, 0.999, 1.0, 2.0]
    expected = [min(255, max(0, round((v + 1) * 127.5))) for v in values]
    got = images_to_uint8(torch.tensor(values)).tolist()
    # Python's round and torch's both round half to even; no value here is a tie.
    assert got == expected


def test_balanced_labels() -> None:
    labels = balanced_labels(23, 10)
    assert labels.tolist() == [i % 10 for i in range(23)]
    counts = torch.bincount(labels, minlength=10)
    assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("model", ["dcgan", "gan"])
def test_nan_output_is_refused(model: str) -> None:
    generator, config = built(model, "digits" if model == "dcgan" else "ring8")
    with torch.no_grad():
        next(generator.parameters()).fill_(float("nan"))
    with pytest.raises(GanEvalError, match="NaN"):
        sample(generator, config, 3)


def test_images_outside_minus_one_one_are_refused() -> None:
    config = make_config("gan", training_data("digits"), steps=1, seed=0)
    generator = build_generator(config)
    generator.net[-1] = torch.nn.Identity()  # drop the tanh: a linear image output
    with torch.no_grad():
        generator.net[-2].bias.fill_(1.5)
        generator.net[-2].weight.zero_()
    with pytest.raises(GanEvalError, match=r"\[1\.5, 1\.5\], outside the range"):
        sample(generator, config, 3)
    with torch.no_grad():
        generator.net[-2].bias.fill_(1 + 0.5 / 255)  # within half a pixel level: rounds to 255
    assert torch.equal(sample(generator, config, 3), torch.full((3, 3, 32, 32), 255, dtype=torch.uint8))


def test_n_must_be_positive() -> None:
    generator, config = built("gan", "ring8")
    with pytest.raises(ValueError, match="at least 1"):
        sample(generator, config, 0)


def test_a_count_beyond_memory_is_refused_before_the_latents_are_drawn(monkeypatch) -> None:
    from gan_eval.models import sampling

    config = GeneratorConfig(
        model="gan",
        dataset="ring8",
        data={"kind": "points", "shape": [2], "n_classes": 0},
        generator={"type": "mlp", "latent_dim": 8, "hidden": [4], "out_shape": [2]},
        discriminator={"type": "mlp", "in_shape": [2], "hidden": [4]},
        loss={"name": "nonsaturating", "n_critic": 1, "clip": None, "gp_weight": None},
        optimizer={"name": "adam", "lr": 1e-3},
        batch_size=8,
        steps=0,
        seed=0,
        gan_eval_version="0",
    )
    per_point = 4 * 8 + 8 * 2 + 4 * 2  # float32 latents; float32 output twice; the float32 points
    assert sampling.sample_bytes(config, 1000) == 1000 * per_point
    monkeypatch.setattr(count_limits, "machine_memory_bytes", lambda: 1000 * per_point)
    sampling.check_sample_memory(config, 1000)
    monkeypatch.setattr(torch, "randn", lambda *a, **k: pytest.fail("latents drawn before the memory check"))
    with pytest.raises(GanEvalError, match=r"1e\+03 2-D points need 56.1 KB, more than the machine's memory \(56 KB\)"):
        sampling.sample(build_generator(config), config, 1001)


def test_the_former_seed_keyword_still_works_with_a_deprecation_warning() -> None:
    config = make_config("gan", training_data("ring8"), steps=1, seed=0)
    generator = build_generator(config)
    with pytest.warns(DeprecationWarning, match=r"sample\(seed=\) is now sample\(latent_seed=\)"):
        old = sample(generator, config, 20, seed=3)
    assert torch.equal(old, sample(generator, config, 20, latent_seed=3))
