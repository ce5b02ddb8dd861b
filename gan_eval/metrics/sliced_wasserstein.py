"""Sliced Wasserstein distance between two feature sets, by Monte Carlo and by dgm-eval's closed form.

- `sliced_wasserstein` (Bonneel et al. 2015, "Sliced and Radon Wasserstein
  Barycenters of Measures"): SW_p(μ, ν) = (E_θ W_p^p(θ#μ, θ#ν))^(1/p), θ
  uniform on the unit sphere, estimated over L given directions, as POT's
  `ot.sliced_wasserstein_distance` does. Each W_p^p between the two projected
  empirical measures (uniform weights) is the integral over q in (0, 1] of
  |F⁻¹(q) - G⁻¹(q)|^p, exact: with N = M the mean of |x_(i) - y_(i)|^p over
  the sorted projections; otherwise the quantile functions are constant
  between the breakpoints i/N and j/M, which are merged as integers in
  units of 1/(NM).
- `sliced_wasserstein_approx` (dgm-eval's `sw_approx`, from Nadjahi et al.
  2021, "Fast Approximation of the Sliced-Wasserstein Distance Using
  Concentration of Random Projections"): no projections at all;
  SW_2 ≈ (‖m_X - m_Y‖²/D + (√(m₂(X̄)/D) - √(m₂(Ȳ)/D))²)^½, with m the means
  and m₂ the mean squared norm of the centred samples. Close to SW_2 when
  the projections of the features are nearly Gaussian (high D).

Both in the units of the features, float64.
"""

from __future__ import annotations

import numpy as np
import torch

from gan_eval.errors import GanEvalError

DIRECTION_BLOCK = 128  # directions projected at a time: (N + M) x 128 float64 values in memory


def random_directions(dim: int, count: int, seed: int) -> np.ndarray:
    """`count` directions uniform on the unit sphere of R^dim, as columns `(dim, count)` float64, from `seed`."""
    gaussian = np.random.default_rng(seed).standard_normal((dim, count))
    return gaussian / np.linalg.norm(gaussian, axis=0, keepdims=True)


def _wasserstein_pp_sorted(u: torch.Tensor, v: torch.Tensor, p: float) -> torch.Tensor:
    """W_p^p per column between sorted samples `u: (N, L)` and `v: (M, L)` of uniform weight, `(L,)`."""
    n, m = u.shape[0], v.shape[0]
    if n == m:
        return (u - v).abs().pow(p).mean(dim=0)
    steps = torch.cat((torch.arange(1, n + 1) * m, torch.arange(1, m + 1) * n)).unique()  # sorted, in 1/(nm)
    widths = torch.diff(steps, prepend=torch.zeros(1, dtype=steps.dtype)).to(torch.float64) / (n * m)
    u_at = (steps + m - 1) // m - 1  # u's quantile on (previous step, step]: its ceil(step / m)-th value
    v_at = (steps + n - 1) // n - 1
    gaps = (u[u_at.to(u.device)] - v[v_at.to(v.device)]).abs().pow(p)
    return (widths.to(u.device)[:, None] * gaps).sum(dim=0)


def sliced_wasserstein(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    directions: np.ndarray | torch.Tensor,
    p: float = 2.0,
    device: str | torch.device = "cpu",
) -> float:
    """SW_p between `x: (N, D)` and `y: (M, D)` over the unit columns of `directions: (D, L)`."""
    a = torch.as_tensor(x, dtype=torch.float64, device=device)
    b = torch.as_tensor(y, dtype=torch.float64, device=device)
    theta = torch.as_tensor(directions, dtype=torch.float64, device=device)
    if min(len(a), len(b)) < 1 or a.shape[1] != b.shape[1] or theta.shape[0] != a.shape[1] or theta.shape[1] < 1:
        raise GanEvalError(
            f"sliced Wasserstein needs two non-empty sets of D-dim features and (D, L) directions; "
            f"got {tuple(a.shape)}, {tuple(b.shape)} and {tuple(theta.shape)}"
        )
    total = 0.0
    for start in range(0, theta.shape[1], DIRECTION_BLOCK):
        block = theta[:, start : start + DIRECTION_BLOCK]
        u, v = (a @ block).sort(dim=0).values, (b @ block).sort(dim=0).values
        total += float(_wasserstein_pp_sorted(u, v, p).sum())
    return (total / theta.shape[1]) ** (1 / p)


def sliced_wasserstein_approx(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """dgm-eval's `sw_approx` of SW_2 between `x: (N, D)` and `y: (M, D)`, from means and centred second moments."""
    a, b = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    if min(len(a), len(b)) < 1:
        raise GanEvalError(f"sliced Wasserstein needs at least 1 sample per set; got {len(a)} and {len(b)}")
    d = a.shape[1]
    mean_a, mean_b = a.mean(dim=0), b.mean(dim=0)
    spread_a = (a - mean_a).pow(2).sum(dim=1).mean() / d
    spread_b = (b - mean_b).pow(2).sum(dim=1).mean() / d
    return float(((mean_a - mean_b).pow(2).sum() / d + (spread_a.sqrt() - spread_b.sqrt()) ** 2).sqrt())
