"""PairedOptions and parse_metrics: settings checked once, where they are made, with one-line errors."""

from __future__ import annotations

import pytest

from gan_eval.errors import GanEvalError
from gan_eval.paired.evaluation import METRICS, PairedOptions, parse_metrics


def test_parse_metrics_keeps_the_order_given() -> None:
    assert parse_metrics("lpips, psnr") == ("lpips", "psnr")
    assert set(METRICS) == {"psnr", "ssim", "ms_ssim", "lpips"}
    assert [METRICS[m].higher_is_better for m in ("psnr", "ssim", "ms_ssim", "lpips")] == [True, True, True, False]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"metrics": ("psnr", "psnr")}, "named twice"),
        ({"metrics": ()}, "choose from psnr, ssim, ms_ssim, lpips"),
        ({"metrics": ("is",)}, "--metrics is: choose from"),
        ({"crop": -1}, "--crop -1: must be 0 or more"),
        ({"bootstrap": 0}, "--bootstrap 0: must be at least 1"),
        ({"confidence": 1.0}, "--confidence 1.0: must lie strictly between 0 and 1"),
        ({"lpips_net": "squeeze"}, "--lpips-net squeeze: choose from alex, vgg"),
    ],
)
def test_bad_options_are_one_line_errors(options: dict, expected: str) -> None:
    with pytest.raises(GanEvalError, match=expected) as info:
        PairedOptions(**options)
    assert "\n" not in str(info.value)
