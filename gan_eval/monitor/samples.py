"""Pictures of generated samples: a grid of images, or a scatter of 2-D points over the reference's.

Both return PNG bytes (the caller writes them atomically). Matplotlib runs
with the Agg backend, on a `Figure` object, so no window or global state is
involved.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

GRID_IMAGES = 64
SCATTER_POINTS = 2000


def image_grid_png(images: torch.Tensor, columns: int = 8) -> bytes:
    """PNG of the first `GRID_IMAGES` uint8 images `(N, C, H, W)` (C = 1 or 3) in a grid, 2-pixel gaps."""
    from torchvision.utils import make_grid

    shown = images[:GRID_IMAGES].cpu()
    grid = make_grid(shown, nrow=min(columns, shown.shape[0]), padding=2, pad_value=0)
    array = grid.permute(1, 2, 0).numpy()
    if shown.shape[1] == 1:
        array = array[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG")
    return buffer.getvalue()


def scatter_png(fake: np.ndarray, reference: np.ndarray | None, title: str) -> bytes:
    """PNG of generated points `fake: (N, 2)` over reference points `(M, 2)` (at most `SCATTER_POINTS` each)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2, 4.2))
    axes = figure.add_subplot()
    if reference is not None:
        ref = reference[:SCATTER_POINTS]
        axes.scatter(ref[:, 0], ref[:, 1], s=4, color="tab:blue", alpha=0.5, label="reference")
    shown = fake[:SCATTER_POINTS]
    finite = np.isfinite(shown).all(axis=1)
    axes.scatter(shown[finite, 0], shown[finite, 1], s=4, color="tab:orange", alpha=0.6, label="generated")
    axes.set_aspect("equal", adjustable="datalim")
    axes.legend(loc="upper right", fontsize=7, markerscale=3)
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()
