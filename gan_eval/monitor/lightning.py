"""A Lightning `Callback` that connects a `Monitor` to a `LightningModule` GAN (needs `lightning`).

    monitor = Monitor("runs/gan", reference="ring.npy", every=500)
    trainer = Trainer(callbacks=[MonitorCallback(monitor, latent_shape=64)])

The callback watches `pl_module.generator` and `pl_module.discriminator`
(other attribute names can be given), records every scalar the module logs
with `self.log(...)` at each training batch, D's outputs when `training_step`
returns them as `{"real_out": ..., "fake_out": ...}` (with an optional
`"d_output": "logits" | "probs" | "critic"`), and calls `Monitor.evaluate`.
Steps are `trainer.global_step`, Lightning's count of optimizer steps.

Gradient norms are read in `on_before_optimizer_step`, which Lightning calls
once the gradients exist (inside `optimizer.step(closure)` under automatic
optimisation) and before it clips them. Works with `lightning.pytorch` or
the older `pytorch_lightning` package; importing this module without either
raises ImportError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from gan_eval.monitor.monitor import Monitor

try:
    from lightning.pytorch import Callback
except ImportError:
    try:
        from pytorch_lightning import Callback
    except ImportError:
        raise ImportError("gan_eval.monitor.lightning needs the lightning package (pip install lightning)") from None

REAL_OUT, FAKE_OUT, D_OUTPUT = "real_out", "fake_out", "d_output"


class MonitorCallback(Callback):
    """Feeds a `Monitor` from a Lightning training (see the module docstring).

    - `generator`, `discriminator`: attribute names of G and D on the LightningModule.
    - `latent_shape`: the shape of one z for `Monitor.evaluate` (None: no evaluations).
    - `scalars`: names of logged values to record (None: every one-element logged value).
    - `close`: close the Monitor when training ends.
    """

    def __init__(
        self,
        monitor: Monitor,
        *,
        generator: str = "generator",
        discriminator: str = "discriminator",
        latent_shape: int | tuple[int, ...] | None = None,
        scalars: Sequence[str] | None = None,
        close: bool = True,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.generator_name = generator
        self.discriminator_name = discriminator
        self.latent_shape = latent_shape
        self.scalars = None if scalars is None else tuple(scalars)
        self.close_at_end = close

    def _network(self, pl_module: Any, name: str) -> torch.nn.Module:
        network = getattr(pl_module, name, None)
        if not isinstance(network, torch.nn.Module):
            raise AttributeError(f"MonitorCallback: the LightningModule has no network named {name!r}")
        return network

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        generator = self._network(pl_module, self.generator_name)
        discriminator = self._network(pl_module, self.discriminator_name)
        self.monitor.watch(generator, discriminator, optimizer_hook=False)

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: torch.optim.Optimizer) -> None:
        self.monitor.measure_gradients(optimizer)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = int(trainer.global_step)
        logged = {
            name: value
            for name, value in trainer.callback_metrics.items()
            if (self.scalars is None or name in self.scalars)
            and (not isinstance(value, torch.Tensor) or value.numel() == 1)
        }
        if logged:
            self.monitor.log(step, **logged)
        if isinstance(outputs, Mapping) and REAL_OUT in outputs and FAKE_OUT in outputs:
            kind = outputs.get(D_OUTPUT, "logits")
            self.monitor.discriminator(step, outputs[REAL_OUT], outputs[FAKE_OUT], kind=kind)
        if self.latent_shape is not None:
            self.monitor.evaluate(step, self._network(pl_module, self.generator_name), self.latent_shape)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self.close_at_end:
            self.monitor.close()
