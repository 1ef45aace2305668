"""What the model says of one job on one system: the shared answer of the pipeline model and Distributed Map's."""

from __future__ import annotations

from dataclasses import dataclass, field

# Billable quantities a Prediction counts, by name (bench.scale_model.prices turns them into dollars).
BILLABLE = (
    "lambda_requests",  # invocations of every function
    "lambda_gb_s",  # GB-seconds of every function
    "sqs_requests",  # API requests, each up to 64 KiB
    "sns_requests",
    "dynamodb_wcu",  # on-demand write request units
    "dynamodb_rcu",
    "s3_put",  # PUT, COPY, POST, LIST
    "s3_get",  # GET and the rest
    "sfn_state_transitions",  # Standard workflows
    "express_requests",  # Express workflow executions
    "express_gb_s",
)


@dataclass(frozen=True)
class Prediction:
    """One job of `subtasks` on `system`, as the model predicts it."""

    system: str  # "this project" or "Distributed Map, Express children"
    subtasks: int
    time_to_full_dispatch_s: float  # submit to the last subtask handed to the queue (or started, for Distributed Map)
    time_to_result_s: float  # submit to the final result written
    peak_concurrency: int  # Lambda environments busy at once, every function of the job
    bounding_stage: str  # the stage (and quota) the time is bound by, in words
    calls: dict[str, float] = field(default_factory=dict)  # BILLABLE name -> amount for the whole job
    notes: tuple[str, ...] = ()
