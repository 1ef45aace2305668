"""Example workload: size, line count and SHA-256 of every object under a prefix, written per object."""
