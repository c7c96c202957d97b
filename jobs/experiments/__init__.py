"""Experiments on the platform: the Spark side of bench/ (sorted storage, scaling)."""
