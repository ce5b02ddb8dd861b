"""VGG-19's style and content responses against a float64 forward from the paper's configuration and torchvision's
own `vgg19` module on the same random weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from style.vgg19_reference import CONTENT, STYLE, random_state_dict, reference_responses, smooth_image

from gan_eval.style.evaluation import normalise
from gan_eval.style.network import RELU_INDEX, build_network, official_shapes


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    return random_state_dict(seed=1)


def test_official_shapes_are_torchvisions_vgg19(state: dict[str, torch.Tensor]) -> None:
    from torchvision.models import vgg19

    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in vgg19().state_dict().items()}
    assert official_shapes() == expected == {k: tuple(v.shape) for k, v in state.items()}
    assert len(expected) == 38


@pytest.fixture(scope="module")
def torchvision_features(state: dict[str, torch.Tensor]) -> torch.nn.Sequential:
    """torchvision's own `vgg19().features` holding the same weights (built on meta, weights assigned)."""
    from torchvision.models import vgg19

    with torch.device("meta"):
        vgg = vgg19(weights=None)
    vgg.load_state_dict(state, assign=True)
    return vgg.features.eval()


@pytest.mark.parametrize("size", [(32, 32), (37, 21)])
def test_responses_equal_the_float64_forward_and_torchvisions(state, torchvision_features, size) -> None:
    image = smooth_image(3, *size)
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    ours = build_network(features)(normalise(image, torch.device("cpu")))
    reference = reference_responses(state, image, "max")
    x = normalise(image, torch.device("cpu"))
    by_index = {}
    with torch.no_grad():
        for index in range(max(RELU_INDEX.values()) + 1):
            x = torchvision_features[index](x).clone()
            by_index[index] = x
    assert set(ours) == {*STYLE, CONTENT}
    for name in (*STYLE, CONTENT):
        mine = ours[name][0].double().numpy()
        assert mine.shape == reference[name].shape
        relative = np.linalg.norm(mine - reference[name]) / np.linalg.norm(reference[name])
        assert relative < 1e-5, (name, relative)
        assert torch.equal(ours[name], by_index[RELU_INDEX[name]])
        assert (reference[name] == 0).any() and (reference[name] > 0).any()  # the ReLU matters on these weights
    assert ours["conv5_1"].shape[2:] == (size[0] // 16, size[1] // 16)


def test_average_pooling_equals_the_float64_forward(state) -> None:
    image = smooth_image(4, 35, 33)
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    ours = build_network(features, "avg")(normalise(image, torch.device("cpu")))
    reference = reference_responses(state, image, "avg")
    max_pooled = reference_responses(state, image, "max")
    for name in (*STYLE, CONTENT):
        mine = ours[name][0].double().numpy()
        assert np.linalg.norm(mine - reference[name]) / np.linalg.norm(reference[name]) < 1e-5, name
    assert not np.allclose(reference["conv2_1"], max_pooled["conv2_1"])  # the pooling changes the responses
    with pytest.raises(ValueError, match="pooling 'median'"):
        build_network(features, "median")
