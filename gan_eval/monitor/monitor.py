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
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from gan_eval.atomic import atomic_write_bytes
from gan_eval.errors import GanEvalError
from gan_eval.extraction import ExtractionOptions
from gan_eval.metrics.registry import MetricOptions
from gan_eval.monitor.alarms import Alarm, AlarmRulebook, AlarmRules, replay
from gan_eval.monitor.events import EventLog, read_run
from gan_eval.monitor.gradients import GradientWatch
from gan_eval.monitor.learning_rates import latest_rates
from gan_eval.monitor.reference import (
    FeatureFunction,
    Reference,
    ReferenceInput,
    feature_space,
    images_to_uint8,
    knn_subset,
    metric_options,
    open_reference_set,
    reference_metrics,
)
from gan_eval.monitor.samples import image_grid_png, scatter_png

OUTPUT_KINDS = ("logits", "probs", "critic")
SAMPLES_DIR = "samples"


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


def _probability_and_sign(outputs: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean probability and mean sign (of the logit, i.e. of p - 0.5) of D's `outputs: (N,)`, logits or probs."""
    if kind == "logits":
        return torch.sigmoid(outputs).mean(), torch.sign(outputs).mean()
    return outputs.mean(), torch.sign(outputs - 0.5).mean()


def _step(step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
        raise GanEvalError(f"step must be an integer, got {step!r}")
    return int(step)


def _tensorboard_writer(folder: Path) -> Any:
    """A TensorBoard `SummaryWriter` into `folder` flushing every 10 s, or None when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder), flush_secs=10)


class Monitor:
    """Records a GAN training's health into `out_dir` and raises alarms (see the module docstring).

    - `reference`: what `evaluate` compares against: statistics (`FeatureStats`
      or a statistics `.npz`), points or features `(N, F)`, or images (array,
      tensor, folder, zip); None records samples and their spread only.
    - `every`: `evaluate(step, ...)` runs when `step % every == 0` (None: at every call).
    - `features`: None (identity for points, Inception pool3 for images),
      "identity", a feature space's name ("inception", "dinov2-vitl14", ...), a `FeatureExtractor`,
      or a callable `(B, ...) -> (B, F)`.
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
        if not resume and (self.out_dir / "events.jsonl").exists():
            raise GanEvalError(f"{self.out_dir} already holds a run record; use resume=True or another folder")
        self.every = every
        self.n_samples = n_samples
        self.latent_seed = latent_seed
        self.value_range = value_range
        self.kid_subsets = kid_subsets
        self.batch_size = batch_size
        self.alarms: list[Alarm] = []
        self._reference_spec = reference
        self._features_spec = features
        self._stderr = stderr
        self._printed: set[str] = set()
        self._rulebook = AlarmRulebook(rules)
        self._log = EventLog(self.out_dir)
        self._last_step: int | None = None
        previous: list[dict[str, Any]] = []
        if self._log.resumed:
            previous = read_run(self.out_dir).events
            replay(self._rulebook, previous)
            steps = [e["step"] for e in previous if isinstance(e.get("step"), int)]
            self._last_step = max(steps) if steps else None
        self._tensorboard = _tensorboard_writer(self.out_dir / "tensorboard") if tensorboard else None
        self._watch: GradientWatch | None = None
        self._recorded_rates = latest_rates(previous)
        self._noise: dict[tuple[int, ...], torch.Tensor] = {}
        self._extraction = ExtractionOptions(device="cpu", progress=False, workers=0)
        self._space = None
        self._reference: Reference | None = None
        self._metric_options: MetricOptions | None = None
        self._knn_subset: np.ndarray | None = None
        self._closed = False
        self._started = time.perf_counter()
        self._evaluated = False
        self._record(
            {
                "kind": "session",
                "step": self._last_step,
                "resumed": self._log.resumed,
                "time": time.time(),
                "rules": self._rulebook.rules.to_json(),
            },
            sync=True,
        )

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
        if kind not in OUTPUT_KINDS:
            raise GanEvalError(f"discriminator(kind={kind!r}): use one of {', '.join(OUTPUT_KINDS)}")
        real = real_out.detach().flatten().float()
        fake = fake_out.detach().flatten().float()
        held = None if held_out is None else held_out.detach().flatten().float()
        if real.numel() == 0 or fake.numel() == 0 or (held is not None and held.numel() == 0):
            raise GanEvalError("discriminator(): real_out, fake_out and held_out must not be empty")
        event: dict[str, Any] = {"kind": "discriminator", "step": step, "output": kind}
        if kind == "critic":
            real_mean, fake_mean = torch.stack([real.mean(), fake.mean()]).tolist()
            event.update(real_mean=real_mean, fake_mean=fake_mean, critic_gap=real_mean - fake_mean)
            if held is not None:
                event["held_out_mean"] = held.mean().item()
            self._record(event)
            return
        d_real, r_t = _probability_and_sign(real, kind)
        d_fake, _ = _probability_and_sign(fake, kind)
        numbers = torch.stack([real.mean(), fake.mean(), d_real, d_fake, r_t]).tolist()
        event.update(zip(("real_mean", "fake_mean", "d_real", "d_fake", "r_t"), numbers, strict=True))
        if held is not None:
            held_numbers = torch.stack([held.mean(), *_probability_and_sign(held, kind)]).tolist()
            event.update(zip(("held_out_mean", "d_held_out", "r_v"), held_numbers, strict=True))
        self._record(event)

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
            self._say(f"step {step}: evaluating n_samples={self.n_samples} generated samples {self._how_often()}")
        start = time.perf_counter()
        outputs = self._generate(generator, shape, sample)
        values = self._measure(outputs)
        values["samples"] = self._save_picture(step, outputs, values)
        values["seconds"] = round(time.perf_counter() - start, 3)
        event = {"kind": "evaluation", "step": step, **values}
        self._record(event, sync=True)
        if not self._evaluated:
            self._evaluated = True
            self._say(self._cost_note(values))
        return event

    def close(self) -> None:
        """Record pending gradient norms, stop watching, flush everything to disk (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        if self._watch is not None:
            self._flush_gradients(self._last_step)
            self._watch.remove()
        self._log.close()
        if self._tensorboard is not None:
            self._tensorboard.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- recording ----------------------------------------------------------------------------------

    def _how_often(self) -> str:
        return f"every={self.every} steps" if self.every is not None else "at every evaluate() call"

    def _cost_note(self, values: dict[str, Any]) -> str:
        """What the first evaluation cost, against the wall time since the Monitor started, and FID's noise."""
        seconds, elapsed = values["seconds"], time.perf_counter() - self._started
        note = (
            f"the evaluation took {seconds:.1f} s, {100 * seconds / max(elapsed, seconds, 1e-9):.0f}% of the "
            f"{elapsed:.1f} s since the Monitor started; fewer samples or a larger every= make it cheaper"
        )
        if values.get("fid_std") is not None:
            fid, std = values["fid"], values["fid_std"]
            note += f"; at n_samples={values['n_samples']} FID {fid:.4g} has standard error {std:.2g}"
        return note

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
        self._flush_gradients(step)
        self._last_step = step
        return step

    def _flush_gradients(self, step: int | None) -> None:
        if self._watch is None:
            return
        rates = self._watch.learning_rates.changes()
        if rates:
            self._record({"kind": "learning_rates", "step": step, **rates})
        drained = self._watch.drain()
        if not drained:
            return
        event: dict[str, Any] = {"kind": "gradients", "step": step}
        for name, norms in drained.items():
            key = name.lower()
            event[f"{key}_norm"] = float(np.mean(norms))
            event[f"{key}_norm_max"] = float(np.max(norms))
            event[f"{key}_steps"] = len(norms)
        self._record(event)

    def _record(self, event: dict[str, Any], sync: bool = False) -> None:
        self._log.append(event, sync=sync)
        self._to_tensorboard(event)
        for alarm in self._rulebook.observe(event):
            self.alarms.append(alarm)
            self._log.append(alarm.to_event(), sync=True)
            if self._tensorboard is not None:
                self._tensorboard.add_text(f"alarms/{alarm.rule}", alarm.message, alarm.step or 0)
            if self._stderr and alarm.rule not in self._printed:
                self._printed.add(alarm.rule)
                print(
                    f"gan-eval monitor: step {alarm.step}: {alarm.rule} ({alarm.subject}): {alarm.message} "
                    f"[later {alarm.rule} alarms: {self._log.path} only]",
                    file=sys.stderr,
                )

    def _to_tensorboard(self, event: dict[str, Any]) -> None:
        if self._tensorboard is None or not isinstance(event.get("step"), int):
            return
        for name, value in event.items():
            if name not in ("step", "time") and isinstance(value, (int, float)) and not isinstance(value, bool):
                self._tensorboard.add_scalar(f"{event['kind']}/{name}", value, event["step"])

    # -- evaluation ---------------------------------------------------------------------------------

    def _generate(
        self, generator: nn.Module, shape: tuple[int, ...], sample: Callable[[torch.Tensor], torch.Tensor] | None
    ) -> torch.Tensor:
        """Generated samples from the fixed noise, on CPU; training state and random state untouched."""
        device = next(generator.parameters(), torch.empty(0)).device
        if shape not in self._noise:
            noise_rng = torch.Generator().manual_seed(self.latent_seed)
            self._noise[shape] = torch.randn((self.n_samples, *shape), generator=noise_rng)
        noise = self._noise[shape]
        modes = [(m, m.training) for m in generator.modules()]
        devices = [device] if device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                generator.eval()
                call = sample or generator
                chunks = [
                    call(noise[i : i + self.batch_size].to(device)).detach().float().cpu()
                    for i in range(0, self.n_samples, self.batch_size)
                ]
        finally:
            for module, training in modes:
                module.training = training
        outputs = torch.cat(chunks)
        if outputs.dim() not in (2, 4) or (outputs.dim() == 4 and outputs.shape[1] not in (1, 3)):
            raise GanEvalError(
                f"generator output of shape {tuple(outputs.shape)}: expected points (N, D) "
                "or images (N, C, H, W) with C = 1 or 3"
            )
        return outputs

    def _measure(self, outputs: torch.Tensor) -> dict[str, Any]:
        images = outputs.dim() == 4
        if self._space is None:
            self._space = feature_space(self._features_spec, images, self._extraction)
            if self._reference_spec is not None:
                self._open_reference(tuple(outputs.shape[1:]))
        finite = torch.isfinite(outputs.flatten(1)).all(dim=1)
        values: dict[str, Any] = {
            "n_samples": outputs.shape[0],
            "features": self._space.name,
            "noise_seed": self.latent_seed,
            "nonfinite_samples": int((~finite).sum()),
        }
        if values["nonfinite_samples"]:
            return values
        batches = images_to_uint8(outputs, self.value_range) if images else outputs
        if images and batches.shape[1] == 1:
            batches = batches.expand(-1, 3, -1, -1)
        with tqdm(
            total=len(batches),
            unit="img",
            desc="gan-eval monitor: features",
            disable=not (self._stderr and images),
            leave=False,
            file=sys.stderr,
            dynamic_ncols=True,
        ) as bar:
            parts = []
            for i in range(0, len(batches), self.batch_size):
                parts.append(self._space(batches[i : i + self.batch_size]))
                bar.update(len(parts[-1]))
        fake = np.concatenate(parts)
        values["spread_trace"] = float(fake.var(axis=0, ddof=1).sum())
        if self._reference is not None:
            values["reference"] = self._reference.name
            values["n_reference"] = self._reference.count
            values.update(reference_metrics(self._reference, fake, self._metric_options, self._knn_subset))
        return values

    def _open_reference(self, sample_shape: tuple[int, ...]) -> None:
        """Read the reference once, and fix the metrics' options and the k-NN metrics' reference subset."""
        self._reference = open_reference_set(
            self._reference_spec, self._space, sample_shape, self.value_range, self._extraction, self.batch_size
        )
        self._metric_options = metric_options(self._reference, self.n_samples, self.kid_subsets, self.latent_seed)
        self._knn_subset = knn_subset(self._reference, self.n_samples, self.latent_seed)

    def _save_picture(self, step: int, outputs: torch.Tensor, values: dict[str, Any]) -> str | None:
        if outputs.dim() == 4:
            data = image_grid_png(images_to_uint8(outputs, self.value_range))
        elif outputs.shape[1] == 2:
            points = self._reference.points if self._reference is not None else None
            title = f"step {step}"
            if "coverage" in values and math.isfinite(values["coverage"]):
                title += f": coverage {values['coverage']:.2f}, recall {values['recall']:.2f}"
            data = scatter_png(outputs.numpy(), points, title)
        else:
            return None
        name = f"{SAMPLES_DIR}/step_{step:08d}.png"
        atomic_write_bytes(self.out_dir / name, data)
        return name
