"""Spark jobs of the pipeline and the settings they share."""
