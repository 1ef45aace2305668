"""Published list prices (US East (N. Virginia), on demand, x86, no free tiers) and the cost of a job's calls.

The prices are the ones docs/distributed-map.md established for issue 28, read from the pages below; that page's
"Prices used" table says which were confirmed on an AWS page and which only on third-party pages that agree.
bench/throughput.py (benchmark 8b) prices its counted calls with these same constants.
"""

from __future__ import annotations

from bench.scale_model.prediction import BILLABLE

LAMBDA_PER_REQUEST = 0.20 / 1e6
LAMBDA_PER_GB_SECOND = 0.0000166667  # x86
SQS_PER_REQUEST = 0.40 / 1e6  # standard queue, each 64 KiB chunk of a payload is one request
SNS_PER_REQUEST = 0.50 / 1e6  # standard topic publishes; deliveries to Lambda and SQS are not charged (not verified)
DYNAMODB_PER_WRU = 0.625 / 1e6
DYNAMODB_PER_RRU = 0.125 / 1e6
S3_PER_PUT = 0.005 / 1000  # PUT, COPY, POST and LIST
S3_PER_GET = 0.0004 / 1000  # GET, HEAD
SFN_PER_TRANSITION = 0.025 / 1000  # Standard workflows
EXPRESS_PER_REQUEST = 1.00 / 1e6
EXPRESS_PER_GB_SECOND = 0.00001667  # the first 1,000 GB-hours a month; later tiers are cheaper
EXPRESS_CHILD_GB = 64 / 1024  # an Express execution bills at least 64 MB
EXPRESS_BILLING_STEP_SECONDS = 0.1  # Express duration is billed in 100 ms steps
EXPRESS_OVERHEAD_SECONDS = 0.1  # an Express child's own time beside its Lambda task (an estimate, not verified)

# Dollars per unit of each BILLABLE quantity of bench.scale_model.prediction.
UNIT_PRICES: dict[str, float] = {
    "lambda_requests": LAMBDA_PER_REQUEST,
    "lambda_gb_s": LAMBDA_PER_GB_SECOND,
    "sqs_requests": SQS_PER_REQUEST,
    "sns_requests": SNS_PER_REQUEST,
    "dynamodb_wcu": DYNAMODB_PER_WRU,
    "dynamodb_rcu": DYNAMODB_PER_RRU,
    "s3_put": S3_PER_PUT,
    "s3_get": S3_PER_GET,
    "sfn_state_transitions": SFN_PER_TRANSITION,
    "express_requests": EXPRESS_PER_REQUEST,
    "express_gb_s": EXPRESS_PER_GB_SECOND,
}

# How each line item reads in a table.
LINE_ITEMS: dict[str, str] = {
    "lambda_requests": "Lambda requests",
    "lambda_gb_s": "Lambda duration (x86)",
    "sqs_requests": "SQS requests",
    "sns_requests": "SNS requests",
    "dynamodb_wcu": "DynamoDB writes",
    "dynamodb_rcu": "DynamoDB reads",
    "s3_put": "S3 PUT",
    "s3_get": "S3 GET",
    "sfn_state_transitions": "Step Functions state transitions",
    "express_requests": "Express requests",
    "express_gb_s": "Express duration",
}

# What one unit of each quantity is, for the tables.
UNITS: dict[str, str] = {
    "lambda_requests": "requests",
    "lambda_gb_s": "GB-seconds",
    "sqs_requests": "requests",
    "sns_requests": "publishes",
    "dynamodb_wcu": "write request units",
    "dynamodb_rcu": "read request units",
    "s3_put": "requests",
    "s3_get": "requests",
    "sfn_state_transitions": "state transitions",
    "express_requests": "executions",
    "express_gb_s": "GB-seconds",
}

# Where each price was read (the same pages as docs/distributed-map.md's Sources).
SOURCES: dict[str, str] = {
    "lambda_requests": "https://cloudchipr.com/blog/aws-lambda-pricing (third party; not verified on the AWS page)",
    "lambda_gb_s": "https://cloudchipr.com/blog/aws-lambda-pricing (third party; not verified on the AWS page)",
    "sqs_requests": "https://unanswered.io/guide/aws-sqs-pricing-and-cost-optimization (third party; not verified on "
    "the AWS page); one request per 64 KB chunk: "
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api.html",
    "sns_requests": "https://www.factualminds.com/blog/amazon-sns-pricing-publishes-fanout-protocols/ (third party; "
    "not verified on the AWS page)",
    "dynamodb_wcu": "https://aws.amazon.com/dynamodb/pricing/on-demand/ (units); "
    "https://airbyte.com/data-engineering-resources/dynamodb-pricing (price, third party; not verified)",
    "dynamodb_rcu": "https://aws.amazon.com/dynamodb/pricing/on-demand/ (units); "
    "https://airbyte.com/data-engineering-resources/dynamodb-pricing (price, third party; not verified)",
    "s3_put": "https://c3x.dev/blog/s3-request-fees-explained (third party; not verified on the AWS page)",
    "s3_get": "https://c3x.dev/blog/s3-request-fees-explained (third party; not verified on the AWS page)",
    "sfn_state_transitions": "https://aws.amazon.com/step-functions/pricing/",
    "express_requests": "https://aws.amazon.com/step-functions/pricing/; "
    "https://aws.amazon.com/blogs/compute/building-cost-effective-aws-step-functions-workflows/",
    "express_gb_s": "https://aws.amazon.com/step-functions/pricing/ (the worked example, read from a copy: "
    "https://mdsite.deno.dev/https://aws.amazon.com/step-functions/pricing)",
}


def cost(calls: dict[str, float]) -> dict[str, float]:
    """Dollars per line item for a job's billable quantities (BILLABLE names; a missing name costs nothing)."""
    unknown = set(calls) - set(BILLABLE)
    if unknown:
        raise ValueError(f"not billable quantities: {sorted(unknown)}; known: {', '.join(BILLABLE)}")
    return {name: calls.get(name, 0.0) * UNIT_PRICES[name] for name in BILLABLE}


def total(calls: dict[str, float]) -> float:
    """The job's cost in dollars."""
    return sum(cost(calls).values())
