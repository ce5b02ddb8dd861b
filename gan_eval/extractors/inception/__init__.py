"""The standard TF Inception-v3 (2015-12-05): its network, its weights files and the extractor."""
