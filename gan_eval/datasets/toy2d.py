"""2-D mixtures of Gaussians for mode-collapse experiments: `ring8` and `grid25`.

The two synthetic sets of VEEGAN (Srivastava et al. 2017, "VEEGAN: Reducing
Mode Collapse in GANs using Implicit Variational Learning") in the variant
that PacGAN (Lin et al. 2018, "PacGAN: The power of two samples in generative
adversarial networks") uses:

- `ring8`: 8 isotropic Gaussians with means (cos 2πk/8, sin 2πk/8), k = 0..7,
  on a circle of radius 1, standard deviation σ = 0.01;
- `grid25`: 25 isotropic Gaussians with means {-4, -2, 0, 2, 4}², σ = 0.05.

Every mode has the same weight. Other papers use other radii and σ (VEEGAN's
own ring has radius 2 and σ = 0.02, for instance), so numbers are only
comparable within one variant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Mixture2D:
    """An equal-weight mixture of isotropic 2-D Gaussians.

    `centres: (K, 2)` float64 mode means; `sigma`: the per-axis standard
    deviation shared by all modes, in the same units as the centres.
    """

    name: str
    centres: np.ndarray
    sigma: float

    @property
    def num_modes(self) -> int:
        """K, the number of modes."""
        return int(self.centres.shape[0])

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """`n` samples `(n, 2)` float32: a uniformly drawn mode plus N(0, σ² I) noise."""
        if n < 0:
            raise ValueError(f"n must be 0 or more; got {n}")
        rng = np.random.default_rng(seed)
        modes = rng.integers(0, self.num_modes, size=n)
        noise = rng.standard_normal((n, 2)) * self.sigma
        return (self.centres[modes] + noise).astype(np.float32)


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


_ANGLES = 2 * np.pi * np.arange(8) / 8
RING8 = Mixture2D("ring8", _frozen(np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], axis=1)), 0.01)
_GRID = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
GRID25 = Mixture2D("grid25", _frozen(np.stack(np.meshgrid(_GRID, _GRID, indexing="ij"), axis=-1).reshape(-1, 2)), 0.05)

TOY_2D: dict[str, Mixture2D] = {"ring8": RING8, "grid25": GRID25}


def sample_ring8(n: int, seed: int = 0) -> np.ndarray:
    """`n` samples of `ring8`, `(n, 2)` float32."""
    return RING8.sample(n, seed)


def sample_grid25(n: int, seed: int = 0) -> np.ndarray:
    """`n` samples of `grid25`, `(n, 2)` float32."""
    return GRID25.sample(n, seed)
