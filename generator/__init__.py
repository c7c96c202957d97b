"""Event generator and replays for the shopping data pipeline."""
