"""Statistics files written by the peers' own code, read by gan-eval: pytorch-fid's `save_fid_stats`,
clean-fid's `make_custom_stats`, and TTUR's layout, in float32 and float64, compressed and not.

The peers' networks need weight downloads, so their model constructors are
replaced by a deterministic stand-in; their image loading, statistics and
file writing run unchanged. The stand-in fills only the first `SUPPORT` of the
2048 channels (the others are exactly zero, like dead units). For a covariance
sigma_a that is zero outside its leading k x k block, sigma_a sigma_b is block
upper-triangular with a zero lower-right block, so Tr (sigma_a sigma_b)^1/2 is
that of the leading blocks, and FID = FID(leading k dims) + ||mu_a[k:] - mu_b[k:]||^2
+ Tr sigma_b[k:, k:]. That is how the peers' own distance functions
(`scipy.linalg.sqrtm`, several seconds at 2048 dims) check the 2048-d files here.
One test runs pytorch-fid unchanged with the real Inception weights.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import cleanfid
import cleanfid.fid
import numpy as np
import pytest
import pytorch_fid.fid_score
import pytorch_fid.inception
import torch
from cli_runner import run_cli
from PIL import Image
from scipy import linalg

import gan_eval
from gan_eval.errors import GanEvalWarning
from gan_eval.stats import load_stats

DIM = 2048
SUPPORT = 32  # channels the stand-in fills
N_IMAGES = 48  # more than SUPPORT, so the leading block of each peer covariance is positive definite

# Relative tolerances. gan-eval, the naive formula and the peers on float64 arrays are all float64
# on the same numbers and agree to about 1e-15 here; 1e-11 leaves a wide margin and still sees the
# 4e-9 to 7e-9 that rounding one file's float64 sigma to float32 moves FID by. The peers compute
# in the arrays' own precision, so a file holding float32 arrays gets 1e-6 against them (8.6e-9 seen).
REL_FLOAT64 = 1e-11
REL_FLOAT32 = 1e-6

Distance = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], float]


class StandInPool3(torch.nn.Module):
    """Deterministic features `(B, 2048)` float32 from images `(B, 3, H, W)` in [0, 1]: a 4x4 average pool
    through a fixed random projection and tanh into the first `SUPPORT` channels; the rest are zero."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("projection", 2 * torch.randn(3 * 4 * 4, SUPPORT, generator=generator))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(images.float(), 4).flatten(1)
        out = torch.zeros(len(images), DIM)
        out[:, :SUPPORT] = torch.tanh((pooled - 0.5) @ self.projection)
        return out


class PytorchFidStandIn(StandInPool3):
    """In place of `pytorch_fid.inception.InceptionV3`: same constructor, a list of `(B, 2048, 1, 1)` maps."""

    BLOCK_INDEX_BY_DIM = pytorch_fid.inception.InceptionV3.BLOCK_INDEX_BY_DIM

    def __init__(self, output_blocks: list[int], **kwargs: object) -> None:
        super().__init__()

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [self.features(images)[:, :, None, None]]


def clean_fid_stand_in(mode: str, device: object = None, use_dataparallel: bool = True) -> Callable:
    """In place of `cleanfid.features.build_feature_extractor`: its model takes 299x299 images in [0, 255]."""
    net = StandInPool3()
    return lambda images: net.features(images / 255)


def write_pngs(folder: Path, images: np.ndarray) -> Path:
    """`images: (N, H, W, 3) uint8` as PNG files."""
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return folder


def record_pytorch_fid_activations(patch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """A list that collects what pytorch-fid's `get_activations` returns, from now until `patch` is undone."""
    recorded: list[np.ndarray] = []
    original = pytorch_fid.fid_score.get_activations

    def recording(*args: object, **kwargs: object) -> np.ndarray:
        recorded.append(original(*args, **kwargs))
        return recorded[-1]

    patch.setattr(pytorch_fid.fid_score, "get_activations", recording)
    return recorded


def load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """`mu` and `sigma` as the peers read them (`np.load(path)['mu']`), in the file's dtypes."""
    with np.load(path) as data:
        return data["mu"], data["sigma"]


def naive_frechet(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr S1 + Tr S2 - 2 Tr sqrtm(S1 S2), in float64."""
    mu1, mu2, sigma1, sigma2 = (np.asarray(x, dtype=np.float64) for x in (mu1, mu2, sigma1, sigma2))
    diff = mu1 - mu2
    root = linalg.sqrtm(sigma1 @ sigma2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(root).real)


def fid_on_support(distance: Distance, a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """FID between `a` and `b` (mean, covariance) by `distance` on the leading `SUPPORT` dims, plus the rest
    of `b` (see the module notes); `a`'s covariance must be zero outside its leading block."""
    (mu_a, sigma_a), (mu_b, sigma_b) = a, b
    k = SUPPORT
    assert not sigma_a[k:].any() and not sigma_a[:, k:].any() and not mu_a[k:].any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the peers pass sqrtm's disp=False
        head = distance(mu_a[:k], sigma_a[:k, :k], mu_b[:k], sigma_b[:k, :k])
    tail = np.sum(np.asarray(mu_b[k:], dtype=np.float64) ** 2) + np.trace(sigma_b[k:, k:])
    return float(head) + float(tail)


def naive_fid_from_features(mu_a: np.ndarray, features_a: np.ndarray, mu_b: np.ndarray, sigma_b: np.ndarray) -> float:
    """FID of `features_a: (n, D)` (with the mean `mu_a`) against `(mu_b, sigma_b)`, float64, sigma_b positive
    definite: with S_a = Xc^T Xc / (n - 1) (Xc the centred features) and S_b = L L^T, Tr (S_a S_b)^1/2 is the sum
    of the singular values of L^T Xc^T / sqrt(n - 1), whose zero ones come out at rounding level, not its root."""
    x = features_a.astype(np.float64)
    centred = x - x.mean(0)
    cross = np.linalg.cholesky(sigma_b).T @ centred.T / np.sqrt(len(x) - 1)
    trace_sqrt = np.linalg.svd(cross, compute_uv=False).sum()
    diff = mu_a.astype(np.float64) - mu_b
    trace_a = (centred * centred).sum() / (len(x) - 1)
    return float(diff @ diff + trace_a + np.trace(sigma_b) - 2 * trace_sqrt)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A positive definite reference in TTUR's layout: `mu` and `sigma` only, `np.mean` and `np.cov` of
    float64 activations (TTUR's `get_activations` fills `np.empty((n, 2048))`, float64). Assumption, from
    TTUR's source: its `precalc_stats_example.py` writes them with `np.savez_compressed`, which is
    byte for byte the layout of pytorch-fid's `save_fid_stats` file; this one is written with `np.savez`,
    the other layout its users meet, and is quicker to read in every test. TTUR needs TensorFlow 1, so
    the activations are drawn here: the first `SUPPORT` dims like the stand-in's, the rest small noise."""
    rng = np.random.default_rng(1)
    activations = np.empty((DIM + 100, DIM))
    activations[:, :SUPPORT] = np.tanh(rng.normal(0.2, 0.8, (len(activations), SUPPORT)))
    activations[:, SUPPORT:] = 0.05 * rng.standard_normal((len(activations), DIM - SUPPORT))
    mu, sigma = np.mean(activations, axis=0), np.cov(activations, rowvar=False)
    path = tmp_path_factory.mktemp("ttur") / "fid_stats_reference.npz"
    np.savez(path, mu=mu, sigma=sigma)
    return path


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(2)
    brightness = rng.uniform(0.3, 1.0, (N_IMAGES, 1, 1, 1))
    images = (rng.uniform(0, 255, (N_IMAGES, 16, 16, 3)) * brightness).astype(np.uint8)
    return write_pngs(tmp_path_factory.mktemp("images") / "generated", images)


@pytest.fixture(scope="module")
def peer_run(image_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The peers' files of `image_folder`, by layout name, and the activations pytorch-fid computed."""
    out = tmp_path_factory.mktemp("peer-files")
    files: dict[str, Path] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pytorch_fid.fid_score, "InceptionV3", PytorchFidStandIn)
        recorded = record_pytorch_fid_activations(patch)
        files["pytorch-fid save_fid_stats"] = out / "pytorch_fid.npz"
        pytorch_fid.fid_score.save_fid_stats(
            [str(image_folder), str(files["pytorch-fid save_fid_stats"])], 16, "cpu", DIM, num_workers=0
        )
        # the same peer statistics, written with the other NumPy writers and dtypes
        pngs = sorted(image_folder.glob("*.png"))
        mu, sigma = pytorch_fid.fid_score.calculate_activation_statistics(
            pngs, PytorchFidStandIn([3]), 16, DIM, "cpu", num_workers=0
        )
        for name, save, dtype in (
            ("np.savez float64", np.savez, np.float64),
            ("np.savez_compressed float32", np.savez_compressed, np.float32),
            ("np.savez float32", np.savez, np.float32),
        ):
            files[f"pytorch-fid statistics, {name}"] = out / f"pytorch_fid_{name.replace(' ', '_')}.npz"
            save(files[f"pytorch-fid statistics, {name}"], mu=mu.astype(dtype), sigma=sigma.astype(dtype))

        # clean-fid writes into its package's stats folder: point the package somewhere else
        patch.setattr(cleanfid, "__file__", str(out / "cleanfid" / "__init__.py"))
        patch.setattr(cleanfid.fid, "build_feature_extractor", clean_fid_stand_in)
        cleanfid.fid.make_custom_stats(
            "peer", str(image_folder), num_workers=0, batch_size=16, device=torch.device("cpu"), verbose=False
        )
        files["clean-fid make_custom_stats"] = out / "cleanfid" / "stats" / "peer_clean_custom_na.npz"
    return {"files": files, "activations": recorded[0]}


PEER_FILES = [
    "pytorch-fid save_fid_stats",
    "pytorch-fid statistics, np.savez float64",
    "pytorch-fid statistics, np.savez_compressed float32",
    "pytorch-fid statistics, np.savez float32",
    "clean-fid make_custom_stats",
]
PEER_DISTANCE = {
    "pytorch-fid": pytorch_fid.fid_score.calculate_frechet_distance,
    "clean-fid": cleanfid.fid.frechet_distance,
}


def test_the_peer_files_cover_each_layout(peer_run: dict, reference: Path) -> None:
    expected = {  # (mu dtype, sigma dtype, compressed)
        "pytorch-fid save_fid_stats": (np.float64, np.float64, True),
        "pytorch-fid statistics, np.savez float64": (np.float64, np.float64, False),
        "pytorch-fid statistics, np.savez_compressed float32": (np.float32, np.float32, True),
        "pytorch-fid statistics, np.savez float32": (np.float32, np.float32, False),
        "clean-fid make_custom_stats": (np.float32, np.float64, True),  # np.mean of its float32 features
        "TTUR": (np.float64, np.float64, False),
    }
    files = dict(peer_run["files"], TTUR=reference)
    for name, (mu_dtype, sigma_dtype, compressed) in expected.items():
        mu, sigma = load_npz(files[name])
        assert (mu.dtype, sigma.dtype, mu.shape, sigma.shape) == (mu_dtype, sigma_dtype, (DIM,), (DIM, DIM)), name
        with zipfile.ZipFile(files[name]) as archive:
            assert sorted(archive.namelist()) == ["mu.npy", "sigma.npy"], name
            methods = {info.compress_type for info in archive.infolist()}
        assert methods == {zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED}, name


def test_the_support_shortcut_equals_the_full_computation(peer_run: dict, reference: Path) -> None:
    """The identity the peer checks rely on, against the 2048-d small-n formula on pytorch-fid's activations."""
    path = peer_run["files"]["pytorch-fid save_fid_stats"]
    mu_a, _ = load_npz(path)
    mu_b, sigma_b = load_npz(reference)
    full = naive_fid_from_features(mu_a, peer_run["activations"], mu_b, sigma_b)
    assert fid_on_support(naive_frechet, load_npz(path), (mu_b, sigma_b)) == pytest.approx(full, rel=REL_FLOAT64)


@pytest.mark.parametrize("name", PEER_FILES)
def test_gan_eval_reads_the_peer_arrays_exactly(name: str, peer_run: dict) -> None:
    path = peer_run["files"][name]
    mu, sigma = load_npz(path)
    with pytest.warns(GanEvalWarning, match="does not say which extractor made it"):
        stats = load_stats(path, expected_dim=DIM)
    assert stats.mean().dtype == stats.covariance().dtype == np.float64
    np.testing.assert_array_equal(stats.mean(), mu.astype(np.float64))
    np.testing.assert_array_equal(stats.covariance(), sigma.astype(np.float64))
    assert stats.count == 0 and stats.known_count is None  # the peers write no sample count: unknown


def expected_fids(name: str, path: Path, reference: Path) -> tuple[float, float, float]:
    """(naive float64 FID, the peer's own FID, the tolerance for the peer's) of the peer file `name` at `path`
    against the reference."""
    a, b = load_npz(path), load_npz(reference)
    peer_distance = PEER_DISTANCE[name.split(" ")[0]]
    peer_rel = REL_FLOAT32 if np.float32 in (a[0].dtype, a[1].dtype) else REL_FLOAT64
    return fid_on_support(naive_frechet, a, b), fid_on_support(peer_distance, a, b), peer_rel


@pytest.mark.parametrize("name", PEER_FILES)
def test_fid_of_a_peer_file_equals_the_peer_and_the_naive_formula(name: str, peer_run: dict, reference: Path) -> None:
    path = peer_run["files"][name]
    naive, peer, peer_rel = expected_fids(name, path, reference)
    with pytest.warns(GanEvalWarning, match="does not say which extractor made it") as caught:
        result = gan_eval.fid(path, reference, progress=False)
    messages = " ".join(str(w.message) for w in caught)
    assert str(path) in messages and str(reference) in messages
    assert result.fid == pytest.approx(naive, rel=REL_FLOAT64)
    assert result.fid == pytest.approx(peer, rel=peer_rel)
    # what gan-eval says about settings the files do not hold: counts, extractor, weights, resize, precision unknown
    assert (result.n_a, result.n_b) == (None, None)
    assert (result.weights_sha256, result.precision) == ("unknown", "unknown")
    assert (result.extractor, result.resize) == ("unknown", "unknown")


@pytest.mark.parametrize("name", ["pytorch-fid save_fid_stats", "clean-fid make_custom_stats"])
def test_cli_fid_of_a_peer_file(name: str, peer_run: dict, reference: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = peer_run["files"][name]
    naive, peer, peer_rel = expected_fids(name, path, reference)
    code, out, err = run_cli(capsys, "fid", path, reference, "--json")
    assert code == 0, err
    printed = json.loads(out)
    assert printed["fid"] == pytest.approx(naive, rel=REL_FLOAT64)
    assert printed["fid"] == pytest.approx(peer, rel=peer_rel)
    assert (printed["n_a"], printed["n_b"], printed["weights_sha256"], printed["precision"]) == (
        None,
        None,
        "unknown",
        "unknown",
    )


@pytest.mark.inception
def test_pytorch_fid_with_the_real_weights(
    real_weights: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """pytorch-fid unchanged, its weights file written from ours into a private TORCH_HOME, on a dozen digits."""
    from gan_eval.datasets import BUILTIN_IMAGE_SETS
    from gan_eval.extractors.inception.weights import load_weights

    state = dict(load_weights(real_weights).state_dict)
    # pytorch-fid loads the classifier too, strictly; pool3 does not use it
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, DIM), torch.zeros(1008)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    name = pytorch_fid.inception.FID_WEIGHTS_URL.rsplit("/", 1)[-1]
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(state, checkpoints / name)

    recorded = record_pytorch_fid_activations(monkeypatch)
    folder = write_pngs(tmp_path / "digits", BUILTIN_IMAGE_SETS["digits:test"]()[:12])
    path = tmp_path / "pytorch_fid_real.npz"
    pytorch_fid.fid_score.save_fid_stats([str(folder), str(path)], 12, "cpu", DIM, num_workers=0)
    capsys.readouterr()  # pytorch-fid's own messages

    mu_a, sigma_a = load_npz(path)
    np.testing.assert_array_equal(sigma_a, np.cov(recorded[0], rowvar=False))
    mu_b, sigma_b = load_npz(reference)
    naive = naive_fid_from_features(mu_a, recorded[0], mu_b, sigma_b)
    # a rank-11 covariance of unknown count: gan-eval keeps the 2037 rounding-level eigenvalues the
    # count would cut, which lowers FID by 2e-9 relative here (4e-8 seen on random features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GanEvalWarning)
        result = gan_eval.fid(path, reference, progress=False)
    assert result.fid == pytest.approx(naive, rel=1e-6)
    code, out, err = run_cli(capsys, "fid", path, reference, "--json")
    assert code == 0, err
    assert json.loads(out)["fid"] == pytest.approx(naive, rel=1e-6)
