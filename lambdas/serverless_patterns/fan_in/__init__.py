"""The fan-in half of fan-out/fan-in: the DynamoDB tracker, the bucket layout, reduction and job status."""
