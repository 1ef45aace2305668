"""Benchmarks of the patterns against naive baselines (`make bench`)."""
