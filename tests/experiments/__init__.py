"""The experiments (bench/ and jobs/experiments/)."""
