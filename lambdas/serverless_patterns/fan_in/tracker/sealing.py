"""Sealing a shard once every subtask of it is counted: the one caller that seals it starts its reduction."""

from __future__ import annotations

from typing import Any

from serverless_patterns.fan_in.tracker.keys import SHARD_REDUCING, shard_key, shard_pk
from serverless_patterns.fan_in.tracker.store import TrackerStore


class Sealing(TrackerStore):
    def _seal_if_full(self, job_id: str, shard: int) -> bool:
        """Seal a full shard for its reduction; True for the one caller that sealed it.

        Re-checked on every delivery, duplicates included, so a worker that
        crashed between counting and sealing is completed by a redelivery.
        """
        return self._seal_if_filled(self._read(shard_key(job_id, shard)) or {})

    def _seal_full_shards(self, shards: list[tuple[str, int]]) -> dict[tuple[str, int], bool | Exception]:
        """_seal_if_full for many shards, read in one request: whether this caller sealed each, or why it could not.

        A failure is kept for its own shard, so a shard sealed here still starts its reduction.
        """
        keys = [shard_key(job_id, shard) for job_id, shard in shards]
        try:
            # One shard (a subtask counted alone) is one GetItem, as record_completion's own check.
            items = [self._read(keys[0])] if len(keys) == 1 else self._read_together(keys)
        except Exception as error:
            return dict.fromkeys(shards, error)
        by_pk = {item["pk"]: item for item in items if item}
        outcomes: dict[tuple[str, int], bool | Exception] = {}
        for job_id, shard in shards:
            try:
                outcomes[(job_id, shard)] = self._seal_if_filled(by_pk.get(shard_pk(job_id, shard), {}))
            except Exception as error:
                outcomes[(job_id, shard)] = error
        return outcomes

    def _seal_if_filled(self, item: dict[str, Any]) -> bool:
        if not item or item.get("sealed") or int(item.get("completed", 0)) < int(item.get("expected", 1)):
            return False
        key = {"pk": item["pk"], "sk": item["sk"]}
        now = self._timestamp()
        return (
            self._conditional_update(
                key,
                UpdateExpression="SET sealed = :true, sealed_at = :now, #status = :reducing, deadline = :now",
                ConditionExpression="attribute_not_exists(sealed)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":true": True, ":now": now, ":reducing": SHARD_REDUCING},
            )
            is not None
        )
