"""Feature extractors: the standard TF Inception-v3 and the protocol any extractor follows."""

from gan_eval.extractors.base import FeatureExtractor
from gan_eval.extractors.inception import INCEPTION_NAME, InceptionExtractor

__all__ = ["INCEPTION_NAME", "FeatureExtractor", "InceptionExtractor"]
