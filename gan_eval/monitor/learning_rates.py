"""Learning rates of the optimizers of G and D, read at each of their steps, recorded when they change.

GAN training lives on its schedules: two time-scale rates (Heusel et al. 2017,
TTUR), warm-up, linear decay, periodic changes. The optimizer step pre-hook that
reads the gradient norms (`gan_eval.monitor.gradients`) also reads
`group["lr"]` of every parameter group of the optimizer about to step, as
Lightning's `LearningRateMonitor` does: the rate this step applies, after any
scheduler or hand change made before it. Nothing is written.

Series names tell the optimizers and their groups apart: the watched networks
whose parameters the optimizer updates (`"G"`, `"D"`, or `"G+D"` for one
optimizer of both), then `#2`, `#3` for a second and third optimizer of the
same networks, then `/group1`, `/group2` ... when the optimizer has more than
one parameter group (`"G/group0"`, `"G/group1"`).

The record is compact: a `learning_rates` event holds only the series whose
rate differs from the last one recorded (all of them the first time), so the
rate of a series at step s is the value of its latest record at a step <= s,
a step function (`rate_at`).
"""

from __future__ import annotations

import bisect
import weakref
from typing import Any

import torch


class LearningRates:
    """The latest learning rate of each series (see the module docstring) and the ones already recorded."""

    def __init__(self) -> None:
        self._bases: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._taken: dict[str, int] = {}
        self._latest: dict[str, float | torch.Tensor] = {}
        self._recorded: dict[str, float] = {}

    def _base(self, optimizer: torch.optim.Optimizer, networks: list[str]) -> str:
        base = self._bases.get(optimizer)
        if base is None:
            owners = "+".join(networks)
            self._taken[owners] = self._taken.get(owners, 0) + 1
            count = self._taken[owners]
            base = owners if count == 1 else f"{owners}#{count}"
            self._bases[optimizer] = base
        return base

    def read(self, optimizer: torch.optim.Optimizer, networks: list[str]) -> None:
        """Note the rate of each parameter group of `optimizer`, which updates the watched `networks`."""
        base = self._base(optimizer, networks)
        groups = optimizer.param_groups
        for index, group in enumerate(groups):
            name = base if len(groups) == 1 else f"{base}/group{index}"
            rate = group.get("lr")
            if rate is None:
                continue  # an optimizer without a learning rate (some adaptive ones)
            # A tensor rate (allowed by Adam and others) may be changed in place: keep its value now.
            self._latest[name] = rate.detach().clone() if isinstance(rate, torch.Tensor) else rate

    def changes(self) -> dict[str, float]:
        """The series whose latest rate differs from the recorded one (all, the first time); marks them recorded."""
        changed = {}
        for name, rate in self._latest.items():
            value = float(rate)
            if name not in self._recorded or not _same(self._recorded[name], value):
                changed[name] = value
                self._recorded[name] = value
        return changed

    def resume(self, recorded: dict[str, float]) -> None:
        """Take `recorded` (`latest_rates` of an earlier session) as recorded, so only changes follow."""
        self._recorded.update(recorded)


def latest_rates(events: list[dict[str, Any]]) -> dict[str, float]:
    """The last recorded rate of each series in `events`."""
    rates: dict[str, float] = {}
    for event in events:
        if event.get("kind") == "learning_rates":
            rates.update((k, float(v)) for k, v in event.items() if k not in ("kind", "step", "time") and _is_number(v))
    return rates


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)  # NaN equals NaN here: a rate stuck at NaN is one change


def rate_at(steps: list[int], values: list[float], step: int) -> float | None:
    """The rate of a series at `step` from its change points `steps` (ascending) and `values`; None before the first."""
    index = bisect.bisect_right(steps, step) - 1
    return values[index] if index >= 0 else None
