"""Class-conditional GANs: intra-FID and the classification accuracy of generated samples.

Intra-FID (Miyato & Koyama 2018, "cGANs with Projection Discriminator"): the
FID of each class's generated images against that class's real images, in any
registered feature space, and their unweighted mean over the classes. A
conditional generator that draws good images of the wrong class keeps a low
FID but gets a high intra-FID.

Accuracy: the share of generated images that a fixed classifier assigns to
their conditioning label (Ravuri & Vinyals 2019 train on generated and test on
real, a stronger variant not done here). The classifier is the built-in digit
classifier (`gan_eval.diagnostics.digit_classifier`, 32x32 digits), either as
trained and cached by gan-eval (`digits`) or as a state dict of the same
architecture (a `.pt`/`.pth` file read as data). TorchScript classifiers are
refused: loading one runs the code stored in the file.

Inputs are organised by class: a folder whose subfolders are the classes
(`real/0/`, `real/1/`, ...; each subfolder is read as an image folder; a
`.npz`, `.npy` or `.zip` file `real/0.npz` is the class named by its stem:
per-class statistics for the intra-FID, checked against the feature space
as any statistics file is, an image array or archive), or a
mapping from class name to anything `gan_eval.sources.open_input` accepts.
Both sides must name the same classes. For accuracy, class names are the
classifier's label indices (`0` to `9` for digits).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gan_eval.errors import GanEvalError, GanEvalWarning, caller_stacklevel
from gan_eval.evaluation import check_statistics_settings, compute_statistics
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.feature_types import FEATURES
from gan_eval.metrics.fid import fid_from_stats
from gan_eval.sources import Input, load_32x32_images, open_input
from gan_eval.sources.base import ImageSource
from gan_eval.stats import FeatureStats
from gan_eval.version import __version__

ClassInputs = str | os.PathLike[str] | Mapping[Any, Input]
CONDITIONAL_METRICS = ("intra_fid", "accuracy")
DIGITS = "digits"  # the built-in classifier's name for --classifier
DIGIT_CLASSES = 10
BUILT_IN_DIGITS = "digits:"  # `digits:SPLIT`: the built-in digits by their labels, as a side's classes
CLASS_FILE_SUFFIXES = (".npz", ".npy", ".zip")  # a class given as one file: statistics, an array, an archive


def class_inputs(spec: ClassInputs, side: str) -> dict[str, Input]:
    """The classes of one side, by name in natural order: a folder's entries, or a mapping's.

    `digits:SPLIT` (`digits:train`, `digits:test`, `digits:all`) is the built-in
    digits of that split, one class per label `0` to `9`. In a folder, each
    visible subfolder is a class of images (`0/`), and so is
    each `.npz`, `.npy` or `.zip` file, named by its stem (`0.npz`: per-class
    statistics or an image array). `side` (`REAL`, `FAKE`) names the input in
    errors. Other files beside the classes are an error (they would belong to
    no class), and so is a class given twice (`0/` and `0.npz`).
    """
    if isinstance(spec, str) and spec.startswith(BUILT_IN_DIGITS):
        return _digits_by_label(spec, side)
    if isinstance(spec, Mapping):
        classes: dict[str, Input] = {str(name): value for name, value in spec.items()}
        if not classes:
            raise GanEvalError(f"{side}: no classes given")
    else:
        root = Path(spec)
        if not root.is_dir():
            raise GanEvalError(f"{side} {root} is not a folder of class subfolders")
        try:
            entries = sorted(e for e in root.iterdir() if not e.name.startswith("."))
        except OSError as exc:
            raise GanEvalError(f"cannot read folder {root}: {exc.strerror}") from None
        classes = {}
        for entry in entries:
            is_class_file = entry.suffix.lower() in CLASS_FILE_SUFFIXES and entry.is_file()
            if not entry.is_dir() and not is_class_file:
                raise GanEvalError(f"{side} {root} holds {entry.name} outside its class subfolders")
            name = entry.stem if is_class_file else entry.name
            if name in classes:
                raise GanEvalError(f"{side} {root} gives class {name} twice ({Path(classes[name]).name}, {entry.name})")
            classes[name] = str(entry)
        if not classes:
            raise GanEvalError(f"{side} {root} has no class subfolders (expected {root}/CLASS/ with images)")
    return {name: classes[name] for name in sorted(classes, key=_natural_key)}


def _digits_by_label(spec: str, side: str) -> dict[str, Input]:
    """The built-in digits of a split (`digits:test`) grouped by their labels: `{"0": (n0, 32, 32, 3) uint8, ...}`."""
    from gan_eval.datasets.digits import SPLITS, digits_images, digits_labels

    split = spec.removeprefix(BUILT_IN_DIGITS)
    if split not in SPLITS:
        raise GanEvalError(
            f"{side} {spec}: unknown split; choose from {', '.join(BUILT_IN_DIGITS + s for s in SPLITS)}"
        )
    images, labels = digits_images(split), digits_labels(split)
    return {str(k): images[labels == k] for k in range(DIGIT_CLASSES)}


def _natural_key(name: str) -> tuple[int, int | str]:
    """Integers in numeric order first (`2` before `10`), then the other names in text order."""
    return (0, int(name)) if name.isdecimal() else (1, name)


def matched_classes(real: ClassInputs, fake: ClassInputs) -> tuple[dict[str, Input], dict[str, Input]]:
    """Both sides' classes; a class on one side only is a `GanEvalError` naming it."""
    real_classes, fake_classes = class_inputs(real, "REAL"), class_inputs(fake, "FAKE")
    for have, lack, have_name, lack_name in (
        (real_classes, fake_classes, "REAL", "FAKE"),
        (fake_classes, real_classes, "FAKE", "REAL"),
    ):
        missing = [name for name in have if name not in lack]
        if missing:
            raise GanEvalError(
                f"class {missing[0]} is in {have_name} but not in {lack_name}"
                + (f" ({len(missing)} such classes)" if len(missing) > 1 else "")
            )
    return real_classes, fake_classes


@dataclass(frozen=True)
class ConditionalResult:
    """Intra-FID and accuracy of a conditional generator, with each class's value and the settings.

    `fid_per_class`: the FID of each class (intra-FID is their mean).
    `accuracy`: correctly classified generated images / all generated images;
    `accuracy_per_class` the same per class; `real_accuracy` the classifier's
    accuracy on the real images (its ceiling on this data), None when the real
    side is not images. Metrics not computed are None or empty.
    """

    classes: tuple[str, ...]
    n_real: dict[str, int]
    n_fake: dict[str, int]
    intra_fid: float | None = None
    fid_per_class: dict[str, float] = field(default_factory=dict)
    accuracy: float | None = None
    accuracy_per_class: dict[str, float] = field(default_factory=dict)
    real_accuracy: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (classes as string keys)."""
        return {
            "intra_fid": self.intra_fid,
            "accuracy": self.accuracy,
            "real_accuracy": self.real_accuracy,
            "classes": list(self.classes),
            "fid_per_class": dict(self.fid_per_class),
            "accuracy_per_class": dict(self.accuracy_per_class),
            "n_real": dict(self.n_real),
            "n_fake": dict(self.n_fake),
            "settings": self.settings,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class DigitClassifier:
    """The digit classifier's network and where its weights came from: `(N, 32, 32, 3)` uint8 -> labels `(N,)`."""

    net: nn.Module
    source: str
    sha256: str

    def settings(self) -> dict[str, str]:
        """What identifies the classifier's numbers: its source and weights hash."""
        return {"classifier": self.source, "classifier_sha256": self.sha256}

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Label `(N,)` int64 of RGB images `(N, 32, 32, 3)` uint8, read as grey (the rounded channel mean)."""
        from gan_eval.diagnostics.digit_classifier import classify_rgb_digits

        return classify_rgb_digits(self.net, images)


def load_classifier(classifier: str | os.PathLike[str]) -> DigitClassifier:
    """`digits` (the cached built-in, trained on first use) or a state dict file of the same architecture.

    The file is read as data (`weights_only`, TorchScript refused) and must
    hold exactly the architecture's keys and shapes.
    """
    from gan_eval.diagnostics.digit_classifier import CACHE_NAME, classifier_path, digit_net, load_digit_classifier
    from gan_eval.digest import file_sha256
    from gan_eval.extractors.weights_files import check_tensors, checked_weights_file, read_state_dict

    if str(classifier) == DIGITS:
        net = load_digit_classifier()
        return DigitClassifier(net, f"{DIGITS} ({CACHE_NAME})", file_sha256(classifier_path()))
    path, sha256 = checked_weights_file(classifier)
    tensors = read_state_dict(path)
    net = digit_net()
    expected = {key: tuple(value.shape) for key, value in net.state_dict().items()}
    check_tensors(path, f"--classifier {path} is not a state dict of the digit classifier", tensors, expected)
    net.load_state_dict(tensors)
    return DigitClassifier(net.eval(), str(path), sha256)


def _label_of(name: str) -> int:
    """The classifier label a class name stands for: its integer index."""
    if not name.isdecimal() or int(name) >= DIGIT_CLASSES:
        raise GanEvalError(
            f"class {name}: accuracy needs classes named by the classifier's label (0 to {DIGIT_CLASSES - 1})"
        )
    return int(name)


def _open_classes(
    classes: dict[str, Input],
    side: str,
    extraction: ExtractionOptions,
    minimum: int,
    expected: tuple[str | None, int | None] = (None, None),
) -> dict[str, ImageSource | FeatureStats]:
    """Every class's input opened, before any is read; a class with fewer than `minimum` images (as far as its
    source or statistics say) is an error naming the class and side.

    Per-class statistics are checked as any statistics input is: a file against the `expected` extractor
    and feature dimension (`load_stats`), statistics given in a mapping against the dimension.
    """
    expected_name, expected_dim = expected
    opened = {
        name: open_input(spec, extraction.value_range, expected_name, expected_dim) for name, spec in classes.items()
    }
    for name, x in opened.items():
        count = x.count if isinstance(x, FeatureStats) else len(x)
        where = x.name
        if isinstance(x, FeatureStats) and expected_dim is not None and x.dim != expected_dim:
            raise GanEvalError(
                f"{side} class {name}: statistics {where} have {x.dim}-d features; "
                f"{expected_name} gives {expected_dim}-d"
            )
        if count == 0 and not isinstance(x, FeatureStats):
            raise GanEvalError(f"{side} class {name} ({where}) has no images")
        if 0 < count < minimum:
            raise GanEvalError(f"{side} class {name} ({where}) has {count} image; FID needs at least {minimum}")
    return opened


def _expected_features(
    extraction: ExtractionOptions, extractor: FeatureExtractor | None
) -> tuple[str | None, int | None]:
    """The extractor name and feature dimension statistics must have: `extractor`'s, else `extraction`'s space."""
    if extractor is not None:
        return extractor.name, extractor.dims[extractor.kinds[FEATURES]]
    return extraction.spec.extractor, extraction.spec.feature_dim


def _correct(classifier: DigitClassifier, source: ImageSource, label: int) -> tuple[int, int]:
    """`(images classified as label, images)` of one class."""
    predicted = classifier.predict(load_32x32_images(source, "the digit classifier's inputs"))
    return int((predicted == label).sum()), len(predicted)


def _accuracy_values(
    real: dict[str, ImageSource | FeatureStats],
    fake: dict[str, ImageSource | FeatureStats],
    classifier: DigitClassifier,
) -> dict[str, Any]:
    """Overall and per-class accuracy of `fake`, and of `real` unless a class of it is statistics."""
    labels = {name: _label_of(name) for name in fake}
    hits, counts = {}, {}
    for name, source in fake.items():
        if isinstance(source, FeatureStats):
            raise GanEvalError(f"FAKE class {name}: accuracy needs images, not statistics")
        hits[name], counts[name] = _correct(classifier, source, labels[name])
    real_hits, real_counts = {}, {}
    if not any(isinstance(source, FeatureStats) for source in real.values()):
        for name, source in real.items():
            real_hits[name], real_counts[name] = _correct(classifier, source, labels[name])
    return {
        "accuracy": sum(hits.values()) / sum(counts.values()),
        "accuracy_per_class": {name: hits[name] / counts[name] for name in fake},
        "real_accuracy": sum(real_hits.values()) / sum(real_counts.values()) if real_counts else None,
        "n_real": real_counts,
        "n_fake": counts,
    }


def _class_statistics(
    source: ImageSource | FeatureStats, extractor: FeatureExtractor, extraction: ExtractionOptions
) -> FeatureStats:
    """One class's feature statistics: extracted (or read from the cache), or given and checked."""
    if isinstance(source, FeatureStats):
        check_statistics_settings(source, extractor.settings())
        return source
    return compute_statistics(source, extractor, extraction=extraction)


def _intra_fid_values(
    real: dict[str, ImageSource | FeatureStats],
    fake: dict[str, ImageSource | FeatureStats],
    extractor: FeatureExtractor,
    extraction: ExtractionOptions,
) -> dict[str, Any]:
    """Each class's FID (with its sample counts) and their mean."""
    per_class, n_real, n_fake, deficient = {}, {}, {}, []
    device = str(extractor.device)
    for name in real:
        a = _class_statistics(real[name], extractor, extraction)
        b = _class_statistics(fake[name], extractor, extraction)
        with warnings.catch_warnings():  # rank deficiency is reported once for all classes below
            warnings.simplefilter("ignore", GanEvalWarning)
            per_class[name] = fid_from_stats(a, b, device)
        n_real[name], n_fake[name] = a.count, b.count
        if any(0 < s.count <= s.dim for s in (a, b)):
            deficient.append(name)
    if deficient:
        warnings.warn(
            f"class(es) {', '.join(deficient)} have no more images than the {a.dim}-d features on a side: their "
            "covariances are rank-deficient and FID is biased upward; compare intra-FID only at equal images per class",
            GanEvalWarning,
            stacklevel=caller_stacklevel(),
        )
    return {
        "intra_fid": float(np.mean(list(per_class.values()))),
        "fid_per_class": per_class,
        "n_real": n_real,
        "n_fake": n_fake,
    }


def parse_conditional_metrics(metrics: str | list[str] | tuple[str, ...] | None, classifier: object) -> tuple[str, ...]:
    """The metrics to compute: named ones (`intra_fid,accuracy`), or by default intra-FID, plus accuracy when
    a classifier is given. Accuracy without a classifier is an error."""
    if metrics is None:
        return CONDITIONAL_METRICS if classifier is not None else ("intra_fid",)
    names = [m.strip() for m in metrics.split(",")] if isinstance(metrics, str) else list(metrics)
    names = [m for m in names if m]
    unknown = [m for m in names if m not in CONDITIONAL_METRICS]
    if unknown or not names:
        given = ",".join(names) or repr(metrics)
        raise GanEvalError(
            f"--metrics {given}: unknown metric {unknown[0] if unknown else '(none)'}; "
            f"choose from {','.join(CONDITIONAL_METRICS)}"
        )
    if "accuracy" in names and classifier is None:
        raise GanEvalError(f"--metrics accuracy needs --classifier ({DIGITS} or a state dict file of its architecture)")
    return tuple(m for m in CONDITIONAL_METRICS if m in names)


def evaluate_conditional(
    real: ClassInputs,
    fake: ClassInputs,
    metrics: str | list[str] | tuple[str, ...] | None = None,
    *,
    classifier: str | os.PathLike[str] | DigitClassifier | None = None,
    extraction: ExtractionOptions | None = None,
    extractor: FeatureExtractor | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> ConditionalResult:
    """Intra-FID and/or accuracy of a conditional generator's images `fake` against `real`, class by class.

    `real`, `fake`: folders of class subfolders or mappings class -> input
    (module docstring). `metrics`: `intra_fid`, `accuracy` or both (default:
    intra-FID, and accuracy when `classifier` is given). `classifier`: `digits`,
    a state dict file of the digit classifier, or a loaded `DigitClassifier`.
    `extraction` says how images become features for the intra-FID (feature
    space, weights, cache, ...; `device` and `progress` override its fields);
    `extractor` replaces its network.
    """
    start = time.perf_counter()
    chosen = parse_conditional_metrics(metrics, classifier)
    extraction = (extraction or ExtractionOptions()).with_changes(device=device, progress=progress)
    real_classes, fake_classes = matched_classes(real, fake)
    if "accuracy" in chosen:
        for name in fake_classes:
            _label_of(name)
    minimum = 2 if "intra_fid" in chosen else 1
    expected = _expected_features(extraction, extractor) if "intra_fid" in chosen else (None, None)
    real_opened = _open_classes(real_classes, "REAL", extraction, minimum, expected)
    fake_opened = _open_classes(fake_classes, "FAKE", extraction, minimum, expected)
    values: dict[str, Any] = {}
    settings: dict[str, Any] = {"gan_eval_version": __version__, "metrics": list(chosen)}
    if "accuracy" in chosen:
        loaded = classifier if isinstance(classifier, DigitClassifier) else load_classifier(classifier)
        values.update(_accuracy_values(real_opened, fake_opened, loaded))
        settings.update(loaded.settings())
    if "intra_fid" in chosen:
        extractor = extractor or extraction.load_extractor()
        values.update(_intra_fid_values(real_opened, fake_opened, extractor, extraction))
        settings.update(extractor.settings())
    return ConditionalResult(
        classes=tuple(real_classes),
        n_real=values.pop("n_real", {}),
        n_fake=values.pop("n_fake", {}),
        settings=settings,
        seconds=round(time.perf_counter() - start, 3),
        **values,
    )


def intra_fid(
    real: ClassInputs,
    fake: ClassInputs,
    *,
    extraction: ExtractionOptions | None = None,
    extractor: FeatureExtractor | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> ConditionalResult:
    """Intra-FID of `fake` against `real` (Miyato & Koyama 2018): the mean of the per-class FIDs, and each.

    Arguments as in `evaluate_conditional`.
    """
    return evaluate_conditional(
        real, fake, ("intra_fid",), extraction=extraction, extractor=extractor, device=device, progress=progress
    )


def conditional_accuracy(
    real: ClassInputs,
    fake: ClassInputs,
    classifier: str | os.PathLike[str] | DigitClassifier = DIGITS,
    *,
    extraction: ExtractionOptions | None = None,
) -> ConditionalResult:
    """The share of `fake`'s images that `classifier` assigns to their class (and per class), and its share on
    `real`'s images. Arguments as in `evaluate_conditional`."""
    return evaluate_conditional(real, fake, ("accuracy",), classifier=classifier, extraction=extraction)
