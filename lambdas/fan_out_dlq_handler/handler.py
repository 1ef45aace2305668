"""DLQ handler: record subtasks that exhausted their retries as failed, so the job still ends.

Runs on the fan-out dead-letter queue. Each failed subtask is counted once in
the tracker with the last error its worker recorded (its message is kept in
the TASK item for a later resubmission); if it was its shard's last open
subtask, the shard's reduction starts. A message that is not a subtask is reported as failed and stays
in the DLQ, where the DLQ alarm shows it.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from serverless_patterns.consolidation import complete_subtask, tracker
from serverless_patterns.fan_out import Subtask
from serverless_patterns.job_tracker import Outcome

logger = Logger()
metrics = Metrics()
tracer = Tracer()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method
def record_failure(record: SQSRecord) -> None:
    subtask = Subtask.from_message(record.body)
    with logger.append_context_keys(**subtask.log_keys):
        error = tracker().last_error(subtask.job_id, subtask.subtask_id, subtask.shard) or {
            "type": "RetriesExhausted",
            "message": "every receive failed and no error was recorded (the worker timed out or ran out of memory?)",
        }
        completion = complete_subtask(subtask, Outcome.FAILED, {"error": error, "message": record.body})
        if completion.first:
            logger.warning("subtask failed for good")
            metrics.add_metric(name="SubtasksFailed", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_failure, processor=processor, context=context)
