"""A large job's dispatch in parts: each part's subtasks sent by one ventilator invocation at a time, side by side.

A job dispatched whole may be cut into `dispatch_parts` consecutive ranges of
subtask ids. Each part has an item beside the job item, written with the
shards before anything is sent:

    pk = JOB#<id>   sk = PART#<nnnn>  next (the first subtask not yet recorded as sent), end,
                                      dispatcher (the claim sending it), updated_at, done, expires_at

An invocation sends a part only while it holds the part's claim: a claim is
taken when the part has none, when it is the claimer's own invocation again
once its claim has been quiet a while (Lambda retries an asynchronous
invocation with its request id, a minute later or more), when the
claimer handed it over, or when the claimer stopped reporting for longer than
a ventilator can run. Progress is recorded per wave, under the claim, so a
duplicate invocation that finds the part claimed sends nothing, and a claimer
whose claim was taken over stops at its next wave. The part that finishes
last sets the job's `dispatched_until` to its total, as a job sent whole does.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from serverless_patterns.fan_in.tracker.dispatch import Dispatch
from serverless_patterns.fan_in.tracker.keys import PART_PREFIX, job_key, part_key
from serverless_patterns.fan_in.tracker.store import failed_condition


def part_range(total: int, parts: int, part: int) -> tuple[int, int]:
    """The subtask ids [start, end) of part `part` of `parts`: consecutive, sizes differing by one at most."""
    return part * total // parts, (part + 1) * total // parts


class DispatchParts(Dispatch):
    """Parts of a job's dispatch: their items, claims, progress and the end of each."""

    def create_shards(self, job: dict[str, Any]) -> None:
        """The job's parts are written with its shards, before `shards_ready`: before anything is sent."""
        self.create_parts(job)
        super().create_shards(job)

    def create_parts(self, job: dict[str, Any]) -> None:
        """Write the part items of a job registered with `dispatch_parts` (none for a job without); a part written
        already is kept as it is (a repeated registration must not reset a part being sent)."""
        parts = int(job.get("dispatch_parts", 0))
        for part in range(parts):
            start, end = part_range(int(job["total"]), parts, part)
            item = {**part_key(job["job_id"], part), "next": start, "end": end, "expires_at": int(job["expires_at"])}
            try:
                self._call(self._table.put_item, Item=item, ConditionExpression="attribute_not_exists(pk)")
            except ClientError as error:
                if not failed_condition(error):
                    raise

    def claim_part(
        self,
        job_id: str,
        part: int,
        claim: str,
        request_id: str,
        handed_over_by: str,
        stale_before: datetime,
        quiet_before: datetime,
    ) -> dict[str, Any] | None:
        """Take part `part` for `claim` (request id / nonce); its item ({"next", "end", ...}), or None when it is
        done, or held by another live claim.

        The invocation's own request id takes its earlier claim back only once that claim has been quiet since
        `quiet_before`: Lambda retries a failed invocation a minute later or more, while a copy of the event
        delivered twice may run beside the first, which records progress every wave.
        """
        return self._conditional_update(
            part_key(job_id, part),
            UpdateExpression="SET dispatcher = :claim, updated_at = :now",
            ConditionExpression=(
                "attribute_exists(pk) AND attribute_not_exists(#done) AND (attribute_not_exists(dispatcher) "
                "OR (begins_with(dispatcher, :request) AND updated_at < :quiet) OR dispatcher = :handed_over_by "
                "OR updated_at < :stale)"
            ),
            ExpressionAttributeNames={"#done": "done"},
            ExpressionAttributeValues={
                ":claim": claim,
                ":now": self._timestamp(),
                ":request": f"{request_id}/",
                ":handed_over_by": handed_over_by or "-",
                ":stale": stale_before.isoformat(),
                ":quiet": quiet_before.isoformat(),
            },
        )

    def record_part_progress(self, job_id: str, part: int, claim: str, sent_until: int) -> bool:
        """Remember that the part is sent up to `sent_until`; False when `claim` no longer holds the part."""
        return (
            self._conditional_update(
                part_key(job_id, part),
                UpdateExpression="SET #next = :until, updated_at = :now",
                ConditionExpression="dispatcher = :claim AND #next <= :until",
                ExpressionAttributeNames={"#next": "next"},
                ExpressionAttributeValues={":claim": claim, ":until": sent_until, ":now": self._timestamp()},
            )
            is not None
        )

    def finish_part(self, job_id: str, part: int, claim: str) -> bool:
        """Mark the part sent (once, under its claim) and count it on the job, then settle the job's dispatch; False
        when `claim` no longer held the part."""
        try:
            self._call(
                self._client.transact_write_items,
                # A retry of a transaction that committed while its answer was lost is the same transaction.
                ClientRequestToken=hashlib.sha256(f"{claim}#{part}".encode()).hexdigest()[:36],
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": part_key(job_id, part),
                            "UpdateExpression": "SET #done = :true, #next = #end, updated_at = :now",
                            "ConditionExpression": "dispatcher = :claim AND attribute_not_exists(#done)",
                            "ExpressionAttributeNames": {"#next": "next", "#end": "end", "#done": "done"},
                            "ExpressionAttributeValues": {":claim": claim, ":true": True, ":now": self._timestamp()},
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": job_key(job_id),
                            "UpdateExpression": "ADD parts_done :one",
                            "ExpressionAttributeValues": {":one": 1},
                        }
                    },
                ],
            )
        except ClientError as error:
            if not failed_condition(error, 0):
                raise
            item = self._read(part_key(job_id, part)) or {}
            if not (item.get("done") and item.get("dispatcher") == claim):
                return False  # taken over; a part this claim finished already (its answer lost) settles below
        self.settle_dispatch(job_id)
        return True

    def settle_dispatch(self, job_id: str) -> None:
        """Once every part is finished, record the job dispatched in full (idempotent: any caller may repeat it)."""
        job = self.get_job(job_id) or {}
        parts = int(job.get("dispatch_parts", 0))
        if parts and int(job.get("parts_done", 0)) >= parts and int(job["dispatched_until"]) < int(job["total"]):
            self.record_dispatch(job_id, int(job["total"]))

    def parts_of(self, job_id: str) -> list[dict[str, Any]]:
        """The job's part items, in order."""
        return list(
            self._query(
                KeyConditionExpression=Key("pk").eq(job_key(job_id)["pk"]) & Key("sk").begins_with(PART_PREFIX),
                ConsistentRead=True,
            )
        )
