"""Metrics as pure functions of features or statistics, with no I/O."""
