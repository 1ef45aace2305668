"""What every pattern's functions share: boto3 clients, settings, retries, plugin loading, streaming."""
