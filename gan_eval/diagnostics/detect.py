"""`detect_collapse(real, fake)`: every mode-collapse detector that applies to the inputs, one verdict.

- REAL names a 2-D mixture (`ring8`, `grid25`): FAKE is an `(N, 2)` array
  (or a `.npy` file of one) and the verdict is `mixture_collapse`'s: modes
  covered, high-quality share, reverse KL (`gan_eval.diagnostics.modes`).
- REAL is an image set: both sets go through the feature pipeline (the
  standard Inception pool3 features, from the feature cache when present)
  and `feature_collapse` runs NDB, birthday support, coverage, recall and
  authenticity on them (`gan_eval.diagnostics.feature_space`).
- When REAL is a built-in digits set, both sets' images are also read by the
  digit classifier (`gan_eval.diagnostics.digit_classifier`) and
  `label_collapse` compares the mode histograms: for `stacked-digits:train`
  and `stacked-digits:test` each channel is classified (1,000 modes); for
  `digits:train`, `digits:test` and `digits:all` the mean of the three
  channels (10 modes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from gan_eval.datasets.toy2d import TOY_2D
from gan_eval.diagnostics.feature_space import MAX_SAMPLES, NDB_BINS, feature_collapse
from gan_eval.diagnostics.modes import label_collapse, mixture_collapse
from gan_eval.diagnostics.verdict import CollapseVerdict
from gan_eval.errors import GanEvalError
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.feature_types import FEATURES
from gan_eval.features import features_of
from gan_eval.sources import Input, load_32x32_images, open_input
from gan_eval.sources.base import ImageSource
from gan_eval.stats import FeatureStats

STACKED_REFERENCES = ("stacked-digits:train", "stacked-digits:test")
DIGIT_REFERENCES = ("digits:train", "digits:test", "digits:all")

PointsInput = str | os.PathLike[str] | np.ndarray | torch.Tensor


def load_points(fake: PointsInput, what: str = "FAKE") -> np.ndarray:
    """An `(N, 2)` float64 array from an array or a `.npy` file (read without pickles)."""
    if isinstance(fake, (np.ndarray, torch.Tensor)):
        array = np.asarray(fake.detach().cpu().numpy() if isinstance(fake, torch.Tensor) else fake)
        name = f"{what} array"
    else:
        path = Path(fake)
        name = str(path)
        if not path.is_file():
            raise GanEvalError(f"{path}: no such file (expected an (N, 2) array in .npy)")
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise GanEvalError(f"{path}: not a readable .npy array ({str(exc).splitlines()[0][:120]})") from None
        if not isinstance(array, np.ndarray):
            raise GanEvalError(f"{path}: holds several arrays; save one (N, 2) array with np.save")
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise GanEvalError(f"{name}: expected an (N, 2) array of points, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise GanEvalError(f"{name}: expected numbers, got dtype {array.dtype}")
    points = array.astype(np.float64)
    if not np.isfinite(points).all():
        raise GanEvalError(f"{name}: holds NaN or Inf values")
    return points


def digit_label_collapse(real: ImageSource, fake: ImageSource, stacked: bool, min_count: int = 1) -> CollapseVerdict:
    """Labelled modes of two 32x32 digit image sets, read by the cached digit classifier.

    `stacked`: each channel is a digit (modes `100 r + 10 g + b`); otherwise the
    rounded mean of the three channels is one digit (modes 0..9).
    """
    from gan_eval.diagnostics.digit_classifier import classify_rgb_digits, load_digit_classifier, stacked_modes

    what = "stacked-digits modes" if stacked else "digit modes"
    real_images, fake_images = (load_32x32_images(source, what) for source in (real, fake))
    net = load_digit_classifier()

    def modes(images: np.ndarray) -> np.ndarray:
        if stacked:
            return stacked_modes(net, images.transpose(0, 3, 1, 2))
        return classify_rgb_digits(net, images)

    return label_collapse(modes(real_images), modes(fake_images), min_count=min_count, reference=real.name)


def detect_collapse(
    real: Input,
    fake: Input,
    *,
    min_count: int = 1,
    extraction: ExtractionOptions | None = None,
    extractor: FeatureExtractor | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
    ndb_bins: int = NDB_BINS,
    max_samples: int = MAX_SAMPLES,
    seed: int = 0,
) -> CollapseVerdict:
    """The mode-collapse verdict of `fake` against `real` (module docstring for what runs when).

    `real`: a mixture name, a built-in set, a folder, `.zip` or `.npy`/`.npz`
    images; `fake`: `(N, 2)` points for a mixture, images otherwise.
    `extraction` says how images become features (`device` and `progress`
    override its fields); `extractor` replaces its network. `ndb_bins`, `max_samples` and `seed` go to
    `feature_collapse`.
    """
    extraction = (extraction or ExtractionOptions()).with_changes(device=device, progress=progress)
    if isinstance(real, str) and real in TOY_2D:
        return mixture_collapse(TOY_2D[real], load_points(fake), min_count=min_count)
    sources = {}
    for side, spec in (("REAL", real), ("FAKE", fake)):
        opened = open_input(spec, extraction.value_range or (0.0, 1.0))
        if isinstance(opened, FeatureStats):
            raise GanEvalError(f"{side} {spec}: a statistics file has no per-sample features; give the images")
        sources[side] = opened
    labelled = None
    if isinstance(real, str) and real in STACKED_REFERENCES + DIGIT_REFERENCES:
        stacked = real in STACKED_REFERENCES
        labelled = digit_label_collapse(sources["REAL"], sources["FAKE"], stacked, min_count)
    extractor = extractor or extraction.load_extractor()
    x, y = (
        features_of(s, extractor, (FEATURES,), (FEATURES,), extraction).features[FEATURES] for s in sources.values()
    )
    verdict = feature_collapse(
        x, y, reference=sources["REAL"].name, ndb_bins=ndb_bins, max_samples=max_samples, seed=seed
    )
    verdict = CollapseVerdict(
        reference=verdict.reference,
        detectors=verdict.detectors,
        values=verdict.values,
        settings={**verdict.settings, **extractor.settings(), "min_count": min_count},
    )
    return labelled.merged(verdict) if labelled is not None else verdict
