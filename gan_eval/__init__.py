"""gan-eval: standard GAN metrics (FID and more), mode-collapse diagnostics and a CI gate."""

from gan_eval.errors import GanEvalError
from gan_eval.evaluation import FidResult, compute_statistics, fid, load_extractor
from gan_eval.stats import FeatureStats, load_stats, save_stats
from gan_eval.version import __version__

__all__ = [
    "FeatureStats",
    "FidResult",
    "GanEvalError",
    "__version__",
    "compute_statistics",
    "fid",
    "load_extractor",
    "load_stats",
    "save_stats",
]
