"""gan-eval: standard GAN metrics (FID and more), mode-collapse diagnostics and a CI gate."""

from gan_eval import ppl_lpips  # noqa: F401  (registers LPIPS-VGG16 as the similarity of PPL)
from gan_eval.errors import GanEvalError
from gan_eval.evaluation import compute_statistics, evaluate, fid
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.registry import load_extractor
from gan_eval.metrics.registry import MetricOptions
from gan_eval.monitor import Monitor
from gan_eval.result import FidResult, Result
from gan_eval.stats import FeatureStats, load_stats, save_stats
from gan_eval.streaming import FID, KID, DensityCoverage, PrecisionRecall, StreamingMetrics
from gan_eval.version import __version__

__all__ = [
    "FID",
    "KID",
    "DensityCoverage",
    "ExtractionOptions",
    "FeatureStats",
    "FidResult",
    "GanEvalError",
    "MetricOptions",
    "Monitor",
    "PrecisionRecall",
    "Result",
    "StreamingMetrics",
    "__version__",
    "compute_statistics",
    "evaluate",
    "fid",
    "load_extractor",
    "load_stats",
    "save_stats",
]
