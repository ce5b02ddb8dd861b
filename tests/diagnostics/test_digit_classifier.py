"""The stacked-digits mode labeller: held-out accuracy, the atomic weights_only cache, modes from channels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gan_eval.datasets.digits import digits_images, digits_labels
from gan_eval.datasets.stacked_digits import stacked_digits_images, stacked_digits_modes
from gan_eval.diagnostics import digit_classifier
from gan_eval.diagnostics.digit_classifier import (
    classifier_path,
    classify_digits,
    held_out_accuracy,
    load_digit_classifier,
    stacked_modes,
    train_digit_classifier,
)


@pytest.fixture(scope="module")
def trained() -> nn.Module:
    before = torch.random.get_rng_state()
    net = train_digit_classifier()
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's global generator is left alone
    return net


def test_held_out_accuracy_is_at_least_95_percent(trained: nn.Module) -> None:
    accuracy = held_out_accuracy(trained)
    images, labels = digits_images("test"), digits_labels("test")
    correct = 0
    with torch.no_grad():
        for image, label in zip(images, labels, strict=True):
            pixels = torch.from_numpy(image[:, :, 0].astype(np.float32) / 255)[None, None]
            correct += int(trained(pixels).argmax().item() == label)
    assert accuracy == correct / len(labels)
    assert accuracy >= 0.95


def test_cache_round_trip(trained: nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake_training(seed: int = 0) -> nn.Module:
        calls.append(seed)
        return trained

    monkeypatch.setattr(digit_classifier, "train_digit_classifier", fake_training)
    assert not classifier_path().exists()
    first = load_digit_classifier()
    assert calls == [0] and classifier_path().is_file()
    assert sorted(p.name for p in classifier_path().parent.iterdir()) == [classifier_path().name]
    state = torch.load(classifier_path(), weights_only=True)
    assert all(torch.equal(state[k], v) for k, v in trained.state_dict().items())
    second = load_digit_classifier()
    assert calls == [0] and not second.training
    probe = torch.rand(5, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(first(probe), second(probe))


@pytest.mark.parametrize("damage", [b"not a checkpoint", None])
def test_damaged_or_pickled_cache_is_retrained(trained: nn.Module, monkeypatch: pytest.MonkeyPatch, damage) -> None:
    calls: list[int] = []
    monkeypatch.setattr(digit_classifier, "train_digit_classifier", lambda seed=0: calls.append(seed) or trained)
    classifier_path().parent.mkdir(parents=True)
    if damage is None:
        torch.save({"0.weight": object.__new__(nn.Module)}, classifier_path())  # a pickle weights_only refuses
    else:
        classifier_path().write_bytes(damage)
    load_digit_classifier()
    assert calls == [0]
    torch.load(classifier_path(), weights_only=True)


def test_stacked_modes_read_each_channel(trained: nn.Module) -> None:
    images = stacked_digits_images("train")[:300].transpose(0, 3, 1, 2)
    modes = stacked_modes(trained, images)
    per_channel = [classify_digits(trained, images[:, c]) for c in range(3)]
    assert np.array_equal(modes, 100 * per_channel[0] + 10 * per_channel[1] + per_channel[2])
    # The training split's digits are read back almost perfectly.
    assert (modes == stacked_digits_modes("train")[:300]).mean() >= 0.97
    with pytest.raises(ValueError, match="32, 32"):
        stacked_modes(trained, images[:, :2])


def test_trained_stacked_generator_covers_far_more_modes_than_a_collapsed_sampler(trained: nn.Module) -> None:
    """The shipped stacked-digits generator against ten of its own images repeated: the verdict tells them apart.

    10,000 samples each against `stacked-digits:test`, modes read by the
    classifier; numbers in docs/reference-generators.md.
    """
    from pathlib import Path

    from gan_eval.diagnostics.modes import label_collapse
    from gan_eval.models.checkpoint import load_generator
    from gan_eval.models.sampling import sample

    torch.set_num_threads(1)
    folder = Path(__file__).resolve().parents[2] / "reference_models" / "wgan-gp-stacked-digits"
    generator, config = load_generator(folder)
    images = sample(generator, config, 10_000, latent_seed=0).numpy()
    reference = stacked_modes(trained, stacked_digits_images("test").transpose(0, 3, 1, 2))
    generated = stacked_modes(trained, images)
    few = images[np.random.default_rng(0).integers(0, 10, size=10_000)]  # a sampler collapsed to ten images
    verdict, collapsed = label_collapse(reference, generated), label_collapse(reference, stacked_modes(trained, few))

    assert verdict.values["modes_covered"] == len(np.unique(generated)) >= 950
    assert verdict.values["mode_kl"] < 0.5
    assert verdict.severity == "partial"  # misses a few modes: the perfect-generator null allows 2 at most
    assert collapsed.values["modes_covered"] <= 10
    assert collapsed.severity == "severe" and collapsed.values["mode_kl"] > np.log(50)
