"""Reading jobs, shards and their subtasks back: a job's progress, and what the status index holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from serverless_patterns.fan_in.tracker.attempts import Attempts
from serverless_patterns.fan_in.tracker.keys import (
    SHARD_REDUCING,
    TASK_PREFIX,
    job_id_of,
    job_key,
    shard_key,
    shard_number,
    shard_pk,
)
from serverless_patterns.fan_in.tracker.model import JobStatus, Progress
from serverless_patterns.fan_in.tracker.store import plain, projection_of

# Whole TASK items per Query page: at most about 200 KB with results of 4 KiB inline. DynamoDB's own
# pages of 1 MB made a reduction's memory grow with its shard up to that; fewer than 50 a page add
# round trips (2,000 for a shard of 100,000) and save little more.
TASKS_PER_PAGE = 50


class Reads(Attempts):
    """The reads; a running job's progress includes its subtasks being retried (Attempts.retrying)."""

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        item = self._read(job_key(job_id))
        return plain(item) if item else None

    def progress(self, job_id: str) -> Progress | None:
        job = self.get_job(job_id)
        return None if job is None else self.progress_of(job)

    def progress_of(self, job: dict[str, Any]) -> Progress:
        """The counts of a job read already: its shards, read together."""
        shards = self.shards(job["job_id"], int(job.get("shard_count", 0)))
        running = job.get("status") in (JobStatus.RUNNING, JobStatus.REDRIVING)
        return Progress(
            job=job,
            total=int(job.get("total", 0)),
            succeeded=sum(shard["succeeded"] for shard in shards),
            failed=sum(shard["failed"] for shard in shards),
            skipped=sum(shard.get("skipped", 0) for shard in shards),
            retrying=self.retrying(job, shards) if running else None,
        )

    def shard(self, job_id: str, shard: int) -> dict[str, Any] | None:
        item = self._read(shard_key(job_id, shard))
        return plain(item) if item else None

    def shards(self, job_id: str, shard_count: int) -> list[dict[str, Any]]:
        """Every shard item of a job that exists, with its number as `shard`, in shard order (BatchGetItem)."""
        found = self._read_together([shard_key(job_id, shard) for shard in range(shard_count)])
        return sorted(({**plain(item), "shard": shard_number(item["pk"])} for item in found), key=lambda i: i["shard"])

    def shard_tasks(self, job_id: str, shard: int, attributes: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
        """The TASK items of one shard (only `attributes` of them, if named), page by page.

        Whole items come TASKS_PER_PAGE at a time: each may hold a result inline, and a reduction holds
        one page while it reads the next results, so its memory stays the same whatever the shard's size.
        """
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :task)",
            "ExpressionAttributeValues": {":pk": shard_pk(job_id, shard), ":task": TASK_PREFIX},
            "ConsistentRead": True,
        }
        kwargs.update(projection_of(attributes) if attributes else {"Limit": TASKS_PER_PAGE})
        return self._query(**kwargs)

    def subtasks(self, job_id: str, shard_count: int) -> Iterator[dict[str, Any]]:
        for shard in range(shard_count):
            yield from self.shard_tasks(job_id, shard)

    def in_status(self, status: str, index_name: str, before: datetime | None = None) -> list[dict]:
        """Items in a status (through the sparse status index), optionally with a deadline before a time."""
        condition = "#status = :status"
        values: dict[str, Any] = {":status": status}
        if before is not None:
            condition += " AND deadline < :before"
            values[":before"] = before.isoformat()
        kwargs: dict[str, Any] = {
            "IndexName": index_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
        }
        return list(self._query(**kwargs))

    def jobs_in_status(self, status: JobStatus, index_name: str, before: datetime | None = None) -> list[dict]:
        return self.in_status(status.value, index_name, before)

    def shards_waiting_for_reduction(self, index_name: str, before: datetime) -> list[tuple[str, int]]:
        """(job id, shard) of sealed shards whose last reduction attempt started before a time."""
        return [
            (job_id_of(item["pk"]), shard_number(item["pk"]))
            for item in self.in_status(SHARD_REDUCING, index_name, before)
        ]
