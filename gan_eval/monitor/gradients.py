"""Gradient norms of G and D, read at the moment their optimizer steps, without touching the training.

A global optimizer step pre-hook (`torch.optim.optimizer.register_optimizer_step_pre_hook`)
runs right before any `optimizer.step()`. When the optimizer holds parameters of
a watched network, the hook reads their `.grad` and computes the total L2 norm
of the gradients that step will apply: after every backward pass that
contributed to it (gradient accumulation, several losses), and before the
update. Nothing is written to the gradients, parameters or random number
generators, so a watched training is bit-identical to an unwatched one.

Norms stay tensors on the training device until `drain()`, so a GPU run
synchronises only when the Monitor records them. Lightning's automatic
optimisation computes gradients inside `optimizer.step(closure)`, after the
pre-hook; its callback adapter turns the hook off and calls `measure` from
`on_before_optimizer_step`, which runs once the gradients are ready.

The same reading notes the learning rates of the stepping optimizer
(`gan_eval.monitor.learning_rates`). `records(step)` turns what was read since
the last call into the Monitor's `learning_rates` and `gradients` records.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from gan_eval.monitor.learning_rates import LearningRates


def total_grad_norm(parameters: Iterable[nn.Parameter]) -> torch.Tensor | None:
    """L2 norm over all `.grad` of `parameters` (float32 scalar tensor), or None if none has a gradient."""
    grads = [p.grad.detach() for p in parameters if p.grad is not None]
    if not grads:
        return None
    norms = torch._foreach_norm(grads) if hasattr(torch, "_foreach_norm") else [g.norm() for g in grads]
    return torch.linalg.vector_norm(torch.stack([n.float() for n in norms]))


class GradientWatch:
    """Collects per-optimizer-step gradient norms of named networks (`"G"`, `"D"`), and their optimizers' rates."""

    def __init__(self, networks: dict[str, nn.Module], hook: bool = True) -> None:
        self._params = {name: {id(p) for p in net.parameters()} for name, net in networks.items()}
        self._pending: dict[str, list[torch.Tensor]] = {name: [] for name in networks}
        self._per_optimizer: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.learning_rates = LearningRates()
        self._handle = register_optimizer_step_pre_hook(self._before_step) if hook else None

    def _owned(self, optimizer: torch.optim.Optimizer) -> dict[str, list[nn.Parameter]]:
        """Per watched network, its parameters that `optimizer` updates (cached per optimizer)."""
        params = [p for group in optimizer.param_groups for p in group["params"]]
        cached = self._per_optimizer.get(optimizer)
        if cached is not None and cached[0] == len(params):
            return cached[1]
        owned = {}
        for name, ids in self._params.items():
            mine = [p for p in params if id(p) in ids]
            if mine:
                owned[name] = mine
        self._per_optimizer[optimizer] = (len(params), owned)
        return owned

    def _before_step(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        self.measure(optimizer)

    def measure(self, optimizer: torch.optim.Optimizer) -> None:
        """Read the gradients `optimizer` is about to apply to the watched networks, and its learning rates."""
        owned = self._owned(optimizer)
        if owned:
            self.learning_rates.read(optimizer, list(owned))
        for name, params in owned.items():
            norm = total_grad_norm(params)
            if norm is not None:
                self._pending[name].append(norm)

    def drain(self) -> dict[str, list[float]]:
        """The norms measured since the last drain, per network, as floats (one device sync per device)."""
        names = [name for name, norms in self._pending.items() if norms]
        if not names:
            return {}
        counts = [len(self._pending[name]) for name in names]
        norms = [n for name in names for n in self._pending[name]]
        # One transfer when G and D share a device; one per norm when they do not.
        one_device = len({n.device for n in norms}) == 1
        flat = torch.stack(norms).tolist() if one_device else [n.item() for n in norms]
        out, start = {}, 0
        for name, count in zip(names, counts, strict=True):
            out[name] = flat[start : start + count]
            start += count
            self._pending[name].clear()
        return out

    def records(self, step: int | None) -> list[dict[str, Any]]:
        """The records of what was read since the last call, filed under `step`: the learning rates that
        changed, and per network the mean and peak gradient norm and the number of optimizer steps."""
        found: list[dict[str, Any]] = []
        rates = self.learning_rates.changes()
        if rates:
            found.append({"kind": "learning_rates", "step": step, **rates})
        drained = self.drain()
        if drained:
            event: dict[str, Any] = {"kind": "gradients", "step": step}
            for name, norms in drained.items():
                key = name.lower()
                event[f"{key}_norm"] = float(np.mean(norms))
                event[f"{key}_norm_max"] = float(np.max(norms))
                event[f"{key}_steps"] = len(norms)
            found.append(event)
        return found

    def remove(self) -> None:
        """Stop watching (removes the global hook)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
