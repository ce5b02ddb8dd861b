"""The paired metrics by name, and the numbers a paired result reports for each, as the gate reads them.

Light on purpose (no torch): the command line builds `gan-eval paired --metrics` and the gate's flags from
it. Each metric reports, per `Result` key: `<name>_mean` (the headline, limited by the gate with
`--min-<name>` or, for LPIPS, `--max-lpips`), `<name>_se` (the standard error of the mean over the pairs,
printed as its ± and the noise of LPIPS's increase rule, `--max-lpips-increase`), and the bootstrap
interval `<name>_ci_low`, `<name>_ci_high`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gan_eval.metrics.registry import HIGHER, LOWER, ResultKey

PAIRED_FAMILY = "paired"


@dataclass(frozen=True)
class PairedMetric:
    """A paired metric: `--metrics` name, printed label, direction, and the range of its per-pair values."""

    name: str
    label: str
    higher_is_better: bool
    minimum: float | None = None
    maximum: float | None = None

    @property
    def key(self) -> ResultKey:
        """The headline number the gate can limit: the mean over the pairs."""
        flag = f"--{'min' if self.higher_is_better else 'max'}-{self.name.replace('_', '-')}"
        increase = None if self.higher_is_better else f"--max-{self.name.replace('_', '-')}-increase"
        return ResultKey(
            f"{self.name}_mean",
            self.label,
            spread=f"{self.name}_se",
            better=HIGHER if self.higher_is_better else LOWER,
            flag=flag,
            increase_flag=increase,
            noise=f"{self.name}_se" if increase else None,
            minimum=self.minimum,
            maximum=self.maximum,
        )


METRICS: dict[str, PairedMetric] = {
    m.name: m
    for m in (
        PairedMetric("psnr", "PSNR (dB)", True),
        PairedMetric("ssim", "SSIM", True, -1.0, 1.0),
        PairedMetric("ms_ssim", "MS-SSIM", True, -1.0, 1.0),
        PairedMetric("lpips", "LPIPS", False, 0.0),
    )
}


def paired_gated_keys() -> tuple[tuple[str, ResultKey], ...]:
    """(metric name, key) for every paired headline number the gate can limit."""
    return tuple((metric.name, metric.key) for metric in METRICS.values())
