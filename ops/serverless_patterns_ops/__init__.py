"""Operator tools for the serverless patterns: load generation, inspection, demos."""
