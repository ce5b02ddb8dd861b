"""`Monitor`: a few lines in a GAN training loop give a record of its health, alarms, metrics and plots.

    with Monitor("runs/dcgan", reference="cifar10_train_stats.npz", every=1000) as monitor:
        monitor.watch(netG, netD)
        for step, real in enumerate(loader):
            ...                                   # the usual D and G updates
            monitor.log(step, loss_d=errD.item(), loss_g=errG.item())
            monitor.discriminator(step, out_real, out_fake, kind="probs")
            monitor.evaluate(step, netG, latent_shape=(100, 1, 1))

Everything goes to `out_dir/events.jsonl` (see `gan_eval.monitor.events`), and
to TensorBoard when the `tensorboard` package is installed. Alarms
(`gan_eval.monitor.alarms`) go to the record, to stderr once per rule, and
onto the plots of `gan-eval plot`. Nothing here changes the training:
gradients are only read, and evaluation samples under `torch.no_grad()`,
in eval mode, from fixed noise, with the global random state saved and
restored.

`Monitor` is the façade of a few parts, each with one job: the record writer
(`gan_eval.monitor.record`), the gradient and learning-rate watch
(`gan_eval.monitor.gradients`), the summaries of D's outputs
(`gan_eval.monitor.discriminator`), the evaluator (`gan_eval.monitor.evaluator`)
and the alarms raised by the rules (`gan_eval.monitor.raised_alarms`). It
checks the arguments, files every record under its step and hands it to the
writer and then to the alarms.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gan_eval.errors import GanEvalError
from gan_eval.monitor.alarms import Alarm, AlarmRules
from gan_eval.monitor.discriminator import discriminator_summary
from gan_eval.monitor.evaluator import Evaluator, cost_note, first_evaluation_note
from gan_eval.monitor.gradients import GradientWatch
from gan_eval.monitor.learning_rates import latest_rates
from gan_eval.monitor.raised_alarms import RaisedAlarms
from gan_eval.monitor.record import RecordWriter
from gan_eval.monitor.recorded_metrics import describe_metrics
from gan_eval.monitor.reference import FeatureFunction, ReferenceInput


def _numbers(scalars: dict[str, Any]) -> dict[str, float]:
    """Numbers and one-element tensors as floats; the tensors of one device are read with one sync."""
    values: dict[str, float] = {}
    tensors: dict[torch.device, dict[str, torch.Tensor]] = {}
    for name, value in scalars.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise GanEvalError(f"{name}: expected a number or a one-element tensor, got shape {tuple(value.shape)}")
            tensors.setdefault(value.device, {})[name] = value.detach().reshape(()).to(torch.float64)
            continue
        try:
            values[name] = float(value)
        except (TypeError, ValueError):
            raise GanEvalError(f"{name}={value!r} is not a number") from None
    for group in tensors.values():
        values.update(zip(group, torch.stack(list(group.values())).tolist(), strict=True))
    return {name: values[name] for name in scalars}


def _step(step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
        raise GanEvalError(f"step must be an integer, got {step!r}")
    return int(step)


class Monitor:
    """Records a GAN training's health into `out_dir` and raises alarms (see the module docstring).

    - `reference`: what `evaluate` compares against: statistics (`FeatureStats`
      or a statistics `.npz`), points or features `(N, F)`, or images (array,
      tensor, folder, zip); None records samples and their spread only.
    - `every`: `evaluate(step, ...)` runs when `step % every == 0` (None: at every call).
    - `features`: None (identity for points, Inception pool3 for images),
      "identity", a feature space's name ("inception", "dinov2-vitl14", ...), a `FeatureExtractor`,
      or a callable `(B, ...) -> (B, F)`.
    - `metrics`: names of registered metrics (`gan_eval.metrics.registry.METRICS`) to record at each
      evaluation, every key each declares; None: fid, kid, pr and dc, those the reference allows.
    - `n_samples`: generated samples per evaluation, from the same seeded noise each time.
    - `latent_seed`: seeds that noise, and also the KID subsets and the reference subset of
      the k-NN metrics (`seed=`, its former name, still works until the next release, with a
      `DeprecationWarning`).
    - `value_range`: range of generated (and float reference) images, for uint8 conversion.
    - `rules`: alarm thresholds; `tensorboard`: also write TensorBoard events when installed;
      `stderr`: print each kind of alarm once; `resume`: continue an existing record in `out_dir`.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        reference: ReferenceInput | None = None,
        every: int | None = 1000,
        *,
        features: str | FeatureFunction | Any | None = None,
        metrics: str | Sequence[str] | None = None,
        n_samples: int = 1000,
        latent_seed: int = 0,
        value_range: tuple[float, float] = (-1.0, 1.0),
        kid_subsets: int = 10,
        batch_size: int = 250,
        rules: AlarmRules | None = None,
        tensorboard: bool = True,
        stderr: bool = True,
        resume: bool = True,
        seed: int | None = None,
    ) -> None:
        if seed is not None:
            warnings.warn(
                "Monitor(seed=) is now Monitor(latent_seed=); seed= goes away in the next release",
                DeprecationWarning,
                stacklevel=2,
            )
            latent_seed = seed
        if every is not None and (not isinstance(every, int) or every < 1):
            raise GanEvalError(f"every={every!r}: must be a positive integer or None")
        if n_samples < 2:
            raise GanEvalError(f"n_samples={n_samples}: evaluation needs at least 2 samples")
        if isinstance(reference, (str, os.PathLike)) and not Path(reference).exists():
            from gan_eval.sources import open_input

            open_input(reference)  # fail now, not at the first evaluation: a built-in name or an error
        self.out_dir = Path(out_dir)
        self.every = every
        self._evaluator = Evaluator(
            self.out_dir,
            reference,
            features,
            metrics,
            n_samples,
            latent_seed,
            value_range,
            kid_subsets,
            batch_size,
            progress=stderr,
        )
        self._stderr = stderr
        self._writer = RecordWriter(self.out_dir, resume, tensorboard)
        self._alarms = RaisedAlarms(rules, self._writer, stderr)
        steps = [e["step"] for e in self._writer.previous if isinstance(e.get("step"), int)]
        self._last_step: int | None = max(steps) if steps else None
        self._recorded_rates = latest_rates(self._writer.previous)
        self._watch: GradientWatch | None = None
        self._closed = False
        self._started = time.perf_counter()
        self._evaluated = False
        self._record(
            {
                "kind": "session",
                "step": self._last_step,
                "resumed": self._writer.resumed,
                "time": time.time(),
                "rules": self._alarms.rulebook.rules.to_json(),
                "metrics": describe_metrics(self._evaluator.metrics),
            },
            sync=True,
        )

    @property
    def alarms(self) -> list[Alarm]:
        """The alarms raised in this session, in order."""
        return self._alarms.alarms

    @property
    def n_samples(self) -> int:
        """Generated samples per evaluation."""
        return self._evaluator.n_samples

    @property
    def latent_seed(self) -> int:
        """The seed of the evaluations' noise, KID subsets and k-NN reference subset."""
        return self._evaluator.latent_seed

    @property
    def value_range(self) -> tuple[float, float]:
        """The range of generated (and float reference) images."""
        return self._evaluator.value_range

    @property
    def kid_subsets(self) -> int:
        """KID's number of subsets."""
        return self._evaluator.kid_subsets

    @property
    def batch_size(self) -> int:
        """Latents per call of the generator at an evaluation."""
        return self._evaluator.batch_size

    # -- what the training loop calls -------------------------------------------------------------

    def watch(self, generator: nn.Module, discriminator: nn.Module, *, optimizer_hook: bool = True) -> None:
        """Record the gradient norms of G and D, and their optimizers' learning rates, at each optimizer step.

        With `optimizer_hook` (the default) a global optimizer step pre-hook reads
        them; without it, call `measure_gradients(optimizer)` before each step.
        Only reads: see `gan_eval.monitor.gradients` and `gan_eval.monitor.learning_rates`.
        """
        self._check_open()
        if self._watch is not None:
            self._watch.remove()
        self._watch = GradientWatch({"G": generator, "D": discriminator}, hook=optimizer_hook)
        self._watch.learning_rates.resume(self._recorded_rates)

    def measure_gradients(self, optimizer: torch.optim.Optimizer) -> None:
        """Read the gradients `optimizer` is about to apply to G and D, for `watch(..., optimizer_hook=False)`.

        For frameworks that compute gradients inside `optimizer.step(closure)`
        (Lightning's automatic optimisation): call it once they exist, before the step.
        """
        self._check_open()
        if self._watch is None:
            raise GanEvalError("measure_gradients() needs watch(generator, discriminator) first")
        self._watch.measure(optimizer)

    def log(self, step: int, **scalars: Any) -> None:
        """Record scalars (losses, learning rates, ...) of `step`; numbers or one-element tensors."""
        step = self._begin(step)
        reserved = {"kind", "step", "time"} & set(scalars)
        if reserved:
            raise GanEvalError(f"log(): {', '.join(sorted(reserved))} is a reserved name")
        values = _numbers(scalars)
        self._record({"kind": "scalars", "step": step, **values})

    def discriminator(
        self,
        step: int,
        real_out: torch.Tensor,
        fake_out: torch.Tensor,
        kind: str = "logits",
        *,
        held_out: torch.Tensor | None = None,
    ) -> None:
        """Record D's outputs on a real batch and a fake batch of `step` (any shapes, one value per sample).

        `kind`: "logits" (before the sigmoid), "probs" (after it), or "critic"
        (WGAN scores, no probability). For logits and probs the record holds
        D(x) and D(G(z)) as mean probabilities and r_t = E[sign(D(x_real))]
        (the sign of the logit, i.e. of p - 0.5); for a critic, the means and
        their gap E[D(x)] - E[D(G(z))], the Wasserstein estimate.
        `held_out`: D's outputs on real images it is not trained on (a
        validation split), same kind; recorded as `held_out_mean` and, for
        logits and probs, `d_held_out` and `r_v` = E[sign(D(x_held_out))], the
        evidence `discriminator_overfitting` needs.
        """
        step = self._begin(step)
        summary = discriminator_summary(real_out, fake_out, kind, held_out)
        self._record({"kind": "discriminator", "step": step, **summary})

    def evaluate(
        self,
        step: int,
        generator: nn.Module,
        latent_shape: int | tuple[int, ...] | None = None,
        *,
        sample: Callable[[torch.Tensor], torch.Tensor] | None = None,
        force: bool = False,
    ) -> dict[str, Any] | None:
        """Every `every` steps (or with `force`): metrics of samples from fixed noise, and their picture.

        Samples come from `generator(z)` (or `sample(z)`), `z` of shape
        `(n_samples, *latent_shape)` drawn once from `latent_seed`, so evaluations are
        paired. Returns the recorded values, or None when this step is skipped.
        """
        step = self._begin(step)
        if not force and self.every is not None and step % self.every:
            return None
        if latent_shape is None:
            raise GanEvalError("evaluate() needs latent_shape, the shape of one z (e.g. 100 or (100, 1, 1))")
        shape = (latent_shape,) if isinstance(latent_shape, int) else tuple(latent_shape)
        if not self._evaluated:
            self._say(first_evaluation_note(step, self.n_samples, self.every))
        values = self._evaluator.evaluate(step, generator, shape, sample)
        event = {"kind": "evaluation", "step": step, **values}
        self._record(event, sync=True)
        if not self._evaluated:
            self._evaluated = True
            self._say(cost_note(values, time.perf_counter() - self._started))
        return event

    def close(self) -> None:
        """Record pending gradient norms, stop watching, flush everything to disk (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        if self._watch is not None:
            self._file_gradients(self._last_step)
            self._watch.remove()
        self._writer.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- recording ----------------------------------------------------------------------------------

    def _say(self, message: str) -> None:
        if self._stderr:
            print(f"gan-eval monitor: {message}", file=sys.stderr)

    def _check_open(self) -> None:
        if self._closed:
            raise GanEvalError("this Monitor is closed")

    def _begin(self, step: Any) -> int:
        """Validate `step`, and file the gradient norms measured since the last call under it."""
        self._check_open()
        step = _step(step)
        self._file_gradients(step)
        self._last_step = step
        return step

    def _file_gradients(self, step: int | None) -> None:
        if self._watch is not None:
            for event in self._watch.records(step):
                self._record(event)

    def _record(self, event: dict[str, Any], sync: bool = False) -> None:
        self._writer.write(event, sync=sync)
        self._alarms.judge(event)
