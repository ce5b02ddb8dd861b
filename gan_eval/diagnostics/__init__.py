"""Mode-collapse detectors: mode counts on known mixtures, labelled modes, and feature-space tests."""
