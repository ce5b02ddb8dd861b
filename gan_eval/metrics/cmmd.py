"""CMMD (Jayasumana et al., CVPR 2024, "Rethinking FID: Towards a Better Evaluation Metric for Image Generation").

The squared maximum mean discrepancy between two sets of L2-normalised CLIP
embeddings, with the Gaussian RBF kernel k(x, y) = exp(-||x - y||² / (2σ²)),
σ = 10, times 1000. The authors' code (google-research `cmmd/distance.py`,
`mmd`) computes the biased, minimum-variance estimator of Gretton et al.
2012 (Eq. 5), the means of the full kernel matrices, diagonals included:

    CMMD = 1000 · (mean_ij k(x_i, x_j) + mean_ij k(y_i, y_j) - 2 mean_ij k(x_i, y_j)),

with ||x - y||² expanded as ||x||² + ||y||² - 2 x·y; the two sets may differ
in size. Their embeddings come L2-normalised from the model (Scenic's CLIP
`encode_image(normalize=True)`); our CLIP extractors give the raw embedding
(CLIP-FID uses it as it is), so the normalisation happens here, in float64.
The kernel sums run in float64 over blocks of rows, so memory stays at
`block_rows` x N whatever the number of samples.
"""

from __future__ import annotations

import numpy as np
import torch

from gan_eval.errors import GanEvalError

SIGMA = 10.0
SCALE = 1000.0
BLOCK_ROWS = 4096


def l2_normalised(features: np.ndarray | torch.Tensor, device: str | torch.device = "cpu") -> torch.Tensor:
    """`features: (N, D)` as float64 rows of unit length on `device`; a zero row is a one-line error."""
    x = torch.as_tensor(features, dtype=torch.float64, device=device)
    norms = x.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise GanEvalError(f"CMMD: {int((norms == 0).sum())} of {len(x)} embeddings are all zero (no direction)")
    return x / norms


def mean_rbf_kernel(x: torch.Tensor, y: torch.Tensor, sigma: float = SIGMA, block_rows: int = BLOCK_ROWS) -> float:
    """mean_ij exp(-||x_i - y_j||² / (2σ²)) over all pairs, `x: (N, D)`, `y: (M, D)` float64, row blocks of x."""
    gamma = 1 / (2 * sigma**2)
    y_sq = (y * y).sum(dim=1)
    total = 0.0
    for start in range(0, len(x), block_rows):
        block = x[start : start + block_rows]
        distances = (block * block).sum(dim=1)[:, None] + y_sq[None, :] - 2 * block @ y.T
        total += float(torch.exp(-gamma * distances).sum())
    return total / (len(x) * len(y))


def cmmd(
    features_a: np.ndarray | torch.Tensor,
    features_b: np.ndarray | torch.Tensor,
    device: str | torch.device = "cpu",
    sigma: float = SIGMA,
    scale: float = SCALE,
) -> float:
    """CMMD between embeddings `features_a: (N, D)` and `features_b: (M, D)` (normalised here), in float64."""
    if min(len(features_a), len(features_b)) < 1:
        raise GanEvalError(f"CMMD needs at least 1 sample per set; got {len(features_a)} and {len(features_b)}")
    x, y = l2_normalised(features_a, device), l2_normalised(features_b, device)
    within = mean_rbf_kernel(x, x, sigma) + mean_rbf_kernel(y, y, sigma)
    return scale * (within - 2 * mean_rbf_kernel(x, y, sigma))
