"""Sending subtasks with retries of the entries that failed: the ventilator's waves and a lane's next subtask."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from serverless_patterns.fan_out import sending
from serverless_patterns.fan_out.jobs import Subtask

SEND_ATTEMPTS = 5


def send_batch(destination: str, batch: list[tuple[Subtask, str]]) -> None:
    """Send (or publish) up to 10 subtasks of one job, retrying only the entries that failed; their message group
    is the job (SQS fair queues)."""
    pending = {str(subtask.subtask_id): body for subtask, body in batch}
    for attempt in range(SEND_ATTEMPTS):
        response = sending.send_entries(destination, pending, job_id=batch[0][0].job_id)
        pending = {failure["Id"]: pending[failure["Id"]] for failure in response.get("Failed", [])}
        if not pending:
            return
        time.sleep(0.1 * 2**attempt)
    raise RuntimeError(f"could not send subtasks {sorted(pending)} after {SEND_ATTEMPTS} attempts")


def send_subtasks(subtasks: list[Subtask], senders: int = 1) -> None:
    """Send subtasks to the job's destination, `senders` batches at a time (a job's first lanes may be thousands:
    one batch after another, 10,000 would take seconds of round trips)."""
    destination = sending.subtask_destination()
    batches = sending.batches(subtasks, sending.batch_bytes(destination))
    if senders <= 1 or len(batches) <= 1:
        for batch in batches:
            send_batch(destination, batch)
        return
    with ThreadPoolExecutor(max_workers=min(senders, len(batches))) as pool:
        for sent in [pool.submit(send_batch, destination, batch) for batch in batches]:
            sent.result()
