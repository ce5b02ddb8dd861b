"""Training: the data sets, every model's step, seeded determinism bit for bit, and a short run that learns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_eval.datasets.digits import digits_images, digits_labels
from gan_eval.datasets.toy2d import TOY_2D
from gan_eval.errors import GanEvalError
from gan_eval.models.registry import MODELS
from gan_eval.models.sampling import sample
from gan_eval.models.training import TRAINING_SETS, Trainer, make_config, train, training_data


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_point_sets_follow_the_mixture(name: str) -> None:
    mixture = TOY_2D[name]
    points, labels = training_data(name).draw(20_000, torch.Generator().manual_seed(0))
    assert labels is None and points.dtype == torch.float32 and points.shape == (20_000, 2)
    x = points.double().numpy()
    nearest = ((x[:, None, :] - mixture.centres[None]) ** 2).sum(-1).argmin(1)
    offsets = x - mixture.centres[nearest]
    # Every mode drawn about equally often; offsets N(0, σ²) per axis.
    counts = np.bincount(nearest, minlength=mixture.num_modes)
    expected = 20_000 / mixture.num_modes
    assert np.abs(counts - expected).max() < 5 * math.sqrt(expected)
    assert np.abs(offsets.mean(0)).max() < 5 * mixture.sigma / math.sqrt(20_000)
    assert offsets.std(0) == pytest.approx([mixture.sigma] * 2, rel=0.03)


def test_digits_training_set_is_the_train_split_in_minus_one_to_one() -> None:
    data = training_data("digits")
    assert (data.kind, data.shape, data.n_classes) == ("images", (3, 32, 32), 10)
    images, labels = data.draw(20, torch.Generator().manual_seed(0))
    train_split = torch.from_numpy(digits_images("train")).permute(0, 3, 1, 2).double()
    pixels = (images.double() + 1) * 127.5
    # Each drawn image is one of the training images, mapped v -> v / 127.5 - 1.
    for image in pixels:
        distance = (train_split - image).abs().flatten(1).max(1).values.min()
        assert distance < 1e-4
    assert labels.shape == (20,) and labels.min() >= 0 and labels.max() <= 9


def test_stacked_digits_training_set_has_uniform_classes_per_channel() -> None:
    data = training_data("stacked-digits")
    assert (data.kind, data.shape, data.n_classes) == ("images", (3, 32, 32), 0)
    images, labels = data.draw(400, torch.Generator().manual_seed(0))
    assert labels is None and images.shape == (400, 3, 32, 32)
    grey = torch.from_numpy(digits_images("train")[..., 0]).double().flatten(1)
    train_labels = digits_labels("train")
    channels = ((images.double() + 1) * 127.5).flatten(2)
    found = []
    for image in channels:
        for channel in image:
            distance, index = (grey - channel).abs().max(1).values.min(0)
            assert distance < 1e-4  # every channel is a training digit
            found.append(train_labels[int(index)])
    # 1,200 channels, classes uniform: Pearson's chi-square below its 0.999 quantile for 9 degrees of freedom.
    counts = np.bincount(found, minlength=10)
    assert ((counts - 120) ** 2 / 120).sum() < 27.88


def test_unknown_names() -> None:
    with pytest.raises(GanEvalError, match="--data nope"):
        training_data("nope")
    with pytest.raises(GanEvalError, match="unknown model"):
        make_config("vae", training_data("ring8"), 1, 0)
    with pytest.raises(GanEvalError, match="class-conditional"):
        make_config("cgan", training_data("ring8"), 1, 0)
    with pytest.raises(GanEvalError, match="--steps 0"):
        train("gan", "ring8", steps=0)


def test_training_sets_listed() -> None:
    assert {"ring8", "grid25", "digits", "stacked-digits"} <= set(TRAINING_SETS)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_trains_on_images(model: str) -> None:
    generator, config = train(model, "digits", steps=2, seed=0, batch_size=4, progress=False)
    assert config.training["final_losses"].keys() >= {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(math.isfinite(v) for v in config.training["final_losses"].values())
    if MODELS[model].gp_weight:
        assert "gradient_penalty" in config.training["final_losses"]
    assert sample(generator, config, 3, latent_seed=0).shape == (3, 3, 32, 32)


@pytest.mark.parametrize("model", sorted(m for m in MODELS if not MODELS[m].conditional))
def test_every_unconditional_model_trains_on_points(model: str) -> None:
    generator, config = train(model, "grid25", steps=2, seed=0, batch_size=16, progress=False)
    assert config.data == {"kind": "points", "shape": [2], "n_classes": 0}
    assert torch.isfinite(sample(generator, config, 5, latent_seed=0)).all()


def test_weight_clipping_holds_after_every_step() -> None:
    data = training_data("ring8")
    trainer = Trainer(make_config("wgan", data, 3, 0, batch_size=16), data)
    for _ in range(3):
        trainer.train_step()
        assert max(p.abs().max().item() for p in trainer.discriminator.parameters()) <= 0.01


def states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize(("model", "data", "batch"), [("gan", "ring8", 32), ("dcgan", "digits", 8)])
def test_seeded_runs_are_identical_bit_for_bit(model: str, data: str, batch: int) -> None:
    first, config_a = train(model, data, steps=5, seed=11, batch_size=batch, progress=False)
    second, config_b = train(model, data, steps=5, seed=11, batch_size=batch, progress=False)
    other, _ = train(model, data, steps=5, seed=12, batch_size=batch, progress=False)
    assert states_equal(first, second)
    assert not states_equal(first, other)
    assert config_a.training["final_losses"] == config_b.training["final_losses"]


def test_a_run_is_the_start_of_a_longer_run() -> None:
    # No schedule depends on the total length: a snapshot after 3 of 6 steps is the 3-step run (reference_models).
    short, _ = train("dcgan", "digits", steps=3, seed=2, batch_size=4, progress=False)
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def keep(step: int, _losses: dict[str, float], generator: torch.nn.Module, _d: torch.nn.Module) -> None:
        snapshots[step] = {k: v.clone() for k, v in generator.state_dict().items()}

    train("dcgan", "digits", steps=6, seed=2, batch_size=4, progress=False, on_step=keep)
    assert snapshots[3].keys() == short.state_dict().keys()
    assert all(torch.equal(snapshots[3][k], v) for k, v in short.state_dict().items())


def test_on_step_sees_every_step() -> None:
    seen: list[int] = []
    train("lsgan", "ring8", steps=4, seed=0, batch_size=8, progress=False, on_step=lambda s, *_: seen.append(s))
    assert seen == [1, 2, 3, 4]


def mean_distance_to_nearest_centre(points: np.ndarray, centres: np.ndarray) -> float:
    """Average Euclidean distance from each point to its nearest centre, with loops over the centres."""
    best = np.full(points.shape[0], np.inf)
    for cx, cy in centres.tolist():
        best = np.minimum(best, np.hypot(points[:, 0] - cx, points[:, 1] - cy))
    return float(best.mean())


def test_a_short_run_moves_the_samples_onto_the_ring() -> None:
    ring = TOY_2D["ring8"]
    data = training_data("ring8")
    # 2-D hinge (R1, learning rate decayed over the run): 800 steps end at 0.18 (400 at 0.33).
    trainer = Trainer(make_config("hinge", data, 800, seed=0), data)
    before = sample(trainer.generator, trainer.config, 1000, latent_seed=1).double().numpy()
    trainer.run(800, progress=False)
    after = sample(trainer.generator, trainer.config, 1000, latent_seed=1).double().numpy()
    start, end = (
        mean_distance_to_nearest_centre(before, ring.centres),
        mean_distance_to_nearest_centre(after, ring.centres),
    )
    # The initial generator sits near the origin, about 0.9 from every centre; 800 steps bring it within a third.
    assert start > 0.8
    assert end < start / 3
