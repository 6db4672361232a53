"""Experiments: sweeps over parameters, choosing the best on validation, promoting it."""
