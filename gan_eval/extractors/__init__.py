"""Feature extractors: the protocol every extractor follows, and the registry of feature spaces."""
