"""Shared code bundled into every Lambda zip of the serverless patterns."""
