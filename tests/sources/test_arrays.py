"""`ArraySource` and `load_array_file`: layouts, dtypes and value ranges, checked against numpy."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_eval.errors import GanEvalError
from gan_eval.sources import open_input
from gan_eval.sources.arrays import ArraySource, load_array_file

RNG = np.random.default_rng(0)


def all_images(source: ArraySource) -> np.ndarray:
    return np.stack([source.load(i) for i in range(len(source))])


@pytest.fixture
def nhwc() -> np.ndarray:
    """(5, 6, 7, 3) uint8: a size where no spatial axis could pass for channels."""
    return RNG.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)


def test_nhwc_npy(tmp_path: Path, nhwc: np.ndarray) -> None:
    np.save(tmp_path / "x.npy", nhwc)
    source = load_array_file(tmp_path / "x.npy")
    assert len(source) == 5
    np.testing.assert_array_equal(all_images(source), nhwc)


def test_nchw_npy(tmp_path: Path, nhwc: np.ndarray) -> None:
    np.save(tmp_path / "x.npy", np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2)))
    np.testing.assert_array_equal(all_images(load_array_file(tmp_path / "x.npy")), nhwc)


@pytest.mark.parametrize("shape", [(4, 6, 7), (4, 6, 7, 1), (4, 1, 6, 7)])
def test_grayscale_repeated_to_rgb(tmp_path: Path, shape: tuple[int, ...]) -> None:
    gray = RNG.integers(0, 256, (4, 6, 7), dtype=np.uint8)
    np.save(tmp_path / "g.npy", gray.reshape(shape))
    expected = np.stack([gray, gray, gray], axis=-1)
    np.testing.assert_array_equal(all_images(load_array_file(tmp_path / "g.npy")), expected)


def test_npz_single_array_or_named_images(tmp_path: Path, nhwc: np.ndarray) -> None:
    np.savez(tmp_path / "one.npz", arr_0=nhwc)
    np.testing.assert_array_equal(all_images(load_array_file(tmp_path / "one.npz")), nhwc)
    np.savez(tmp_path / "named.npz", labels=np.arange(5), images=nhwc)
    np.testing.assert_array_equal(all_images(open_input(tmp_path / "named.npz")), nhwc)


def test_npz_with_several_unnamed_arrays_is_refused(tmp_path: Path, nhwc: np.ndarray) -> None:
    np.savez(tmp_path / "many.npz", a=nhwc, b=nhwc)
    with pytest.raises(GanEvalError, match=re.escape("many.npz: .npz holds 2 arrays")):
        load_array_file(tmp_path / "many.npz")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_zero_one_known_levels(dtype: type) -> None:
    levels = np.arange(256, dtype=np.uint8)
    images = np.broadcast_to(levels.reshape(1, 16, 16, 1), (2, 16, 16, 3))
    source = ArraySource((images.astype(np.float64) / 255).astype(dtype))
    np.testing.assert_array_equal(all_images(source), images)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_minus_one_one_known_levels(dtype: type) -> None:
    levels = np.arange(256, dtype=np.uint8)
    images = np.broadcast_to(levels.reshape(1, 16, 16, 1), (2, 16, 16, 3))
    source = ArraySource((images.astype(np.float64) / 127.5 - 1).astype(dtype), value_range=(-1.0, 1.0))
    np.testing.assert_array_equal(all_images(source), images)


def test_float_zero_one_random_values(tmp_path: Path) -> None:
    values = RNG.random((3, 8, 9, 3)).astype(np.float32)
    np.save(tmp_path / "f.npy", values)
    expected = np.floor(values.astype(np.float64) * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(all_images(load_array_file(tmp_path / "f.npy")), expected)


def test_float_minus_one_one_random_values_nchw(tmp_path: Path) -> None:
    values = RNG.uniform(-1, 1, (3, 3, 8, 9))
    np.save(tmp_path / "f.npy", values)
    expected = np.floor((values.transpose(0, 2, 3, 1) + 1) / 2 * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(all_images(load_array_file(tmp_path / "f.npy", (-1.0, 1.0))), expected)


def test_torch_tensor_input(nhwc: np.ndarray) -> None:
    tensor = torch.from_numpy(nhwc).permute(0, 3, 1, 2).float() / 255
    np.testing.assert_array_equal(all_images(open_input(tensor)), nhwc)


@pytest.mark.parametrize(
    ("values", "value_range", "message"),
    [
        (np.full((2, 4, 4, 3), 1.5), (0.0, 1.0), "outside the declared range"),
        (np.full((2, 4, 4, 3), -0.01), (0.0, 1.0), "outside the declared range"),
        (np.full((2, 4, 4, 3), -0.5), (0.0, 1.0), "outside the declared range"),
        (np.full((2, 4, 4, 3), 1.01), (-1.0, 1.0), "outside the declared range"),
        (np.full((2, 4, 4, 3), np.nan), (0.0, 1.0), "NaN or Inf"),
        (np.full((2, 4, 4, 3), np.inf), (0.0, 1.0), "NaN or Inf"),
        (np.zeros((2, 4, 4, 3), np.int16), (0.0, 1.0), "dtype int16"),
        (np.zeros((2, 4, 4, 3), np.uint16), (0.0, 1.0), "dtype uint16"),
        (np.zeros((2, 4, 4, 3), bool), (0.0, 1.0), "dtype bool"),
        (np.zeros((2, 4), np.uint8), (0.0, 1.0), "not images"),
        (np.zeros((2, 4, 4, 3, 1), np.uint8), (0.0, 1.0), "not images"),
        (np.zeros((2, 5, 5, 5), np.uint8), (0.0, 1.0), "no channel axis"),
        (np.zeros((0, 4, 4, 3), np.uint8), (0.0, 1.0), "no images"),
    ],
)
def test_refuses_bad_arrays(tmp_path: Path, values: np.ndarray, value_range: tuple[float, float], message: str) -> None:
    path = tmp_path / "bad-array.npy"
    np.save(path, values)
    with pytest.raises(GanEvalError, match=message) as caught:
        load_array_file(path, value_range)
    assert "bad-array.npy" in str(caught.value)


def test_refuses_an_unsupported_value_range() -> None:
    with pytest.raises(GanEvalError, match="value range"):
        ArraySource(np.zeros((2, 4, 4, 3)), value_range=(0.0, 255.0))


def test_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(GanEvalError, match=re.escape("objects.npy: array holds pickled objects")):
        load_array_file(path)
    np.savez(tmp_path / "objects.npz", images=np.array([{"a": 1}], dtype=object))
    with pytest.raises(GanEvalError, match=re.escape("objects.npz: array holds pickled objects")):
        load_array_file(tmp_path / "objects.npz")


@pytest.mark.parametrize("name", ["garbage.npy", "garbage.npz"])
def test_refuses_a_file_that_is_not_an_array(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"this is not a numpy file at all")
    with pytest.raises(GanEvalError, match=f"{name}: not a readable NumPy array"):
        load_array_file(path)


def test_minus_one_one_tensor_refused_as_zero_one_names_the_setting() -> None:
    images = torch.linspace(-1, 1, 2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    with pytest.raises(GanEvalError, match="outside the declared range") as caught:
        ArraySource(images)
    assert "value_range=(-1, 1)" in str(caught.value)
    assert "--float-range -1,1" in str(caught.value)


def test_values_outside_minus_one_one_get_no_range_hint() -> None:
    with pytest.raises(GanEvalError, match="outside the declared range") as caught:
        ArraySource(np.full((2, 4, 4, 3), 1.5))
    assert "value_range" not in str(caught.value)
