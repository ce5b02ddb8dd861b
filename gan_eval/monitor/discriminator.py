"""Summaries of D's outputs on a real batch, a generated batch and, optionally, held-out real images.

For logits and probabilities: D(x) and D(G(z)) as mean probabilities and
r_t = E[sign(D(x_real))], the sign of the logit, i.e. of p - 0.5 (Karras et
al. 2020, "Training Generative Adversarial Networks with Limited Data");
with held-out real images also D(x_held_out) and r_v, its sign's mean. For a
critic (WGAN scores, no probability): the means and their gap
E[D(x)] - E[D(G(z))], the Wasserstein estimate. One device sync per call.
"""

from __future__ import annotations

from typing import Any

import torch

from gan_eval.errors import GanEvalError

OUTPUT_KINDS = ("logits", "probs", "critic")


def _probability_and_sign(outputs: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean probability and mean sign (of the logit, i.e. of p - 0.5) of D's `outputs: (N,)`, logits or probs."""
    if kind == "logits":
        return torch.sigmoid(outputs).mean(), torch.sign(outputs).mean()
    return outputs.mean(), torch.sign(outputs - 0.5).mean()


def discriminator_summary(
    real_out: torch.Tensor, fake_out: torch.Tensor, kind: str, held_out: torch.Tensor | None = None
) -> dict[str, Any]:
    """The fields of a `discriminator` record: `output` (the kind) and the summaries of the module docstring.

    Outputs of any shape, one value per sample; `kind` is one of `OUTPUT_KINDS`.
    """
    if kind not in OUTPUT_KINDS:
        raise GanEvalError(f"discriminator(kind={kind!r}): use one of {', '.join(OUTPUT_KINDS)}")
    real = real_out.detach().flatten().float()
    fake = fake_out.detach().flatten().float()
    held = None if held_out is None else held_out.detach().flatten().float()
    if real.numel() == 0 or fake.numel() == 0 or (held is not None and held.numel() == 0):
        raise GanEvalError("discriminator(): real_out, fake_out and held_out must not be empty")
    fields: dict[str, Any] = {"output": kind}
    if kind == "critic":
        real_mean, fake_mean = torch.stack([real.mean(), fake.mean()]).tolist()
        fields.update(real_mean=real_mean, fake_mean=fake_mean, critic_gap=real_mean - fake_mean)
        if held is not None:
            fields["held_out_mean"] = held.mean().item()
        return fields
    d_real, r_t = _probability_and_sign(real, kind)
    d_fake, _ = _probability_and_sign(fake, kind)
    numbers = torch.stack([real.mean(), fake.mean(), d_real, d_fake, r_t]).tolist()
    fields.update(zip(("real_mean", "fake_mean", "d_real", "d_fake", "r_t"), numbers, strict=True))
    if held is not None:
        held_numbers = torch.stack([held.mean(), *_probability_and_sign(held, kind)]).tolist()
        fields.update(zip(("held_out_mean", "d_held_out", "r_v"), held_numbers, strict=True))
    return fields
