"""Where the tracker keeps what: which shard counts a subtask (ShardLayout), and the key of every item.

The items and their keys are described in the package's docstring; these
builders are the only place that spells them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_SHARDS = 1000  # bounds the objects the final merge reads
# Completions one shard absorbs per second: a partition's 1,000 WCU/s over the 4 WCU of a completion counted alone.
# A job of at most this many subtasks fits one shard's second, so parallel shards would only add reductions.
SHARD_COMPLETIONS_PER_SECOND = 250
SHARD_REDUCING = "REDUCING"  # the status a sealed, not yet reduced shard shows in the status index


@dataclass(frozen=True)
class ShardLayout:
    """Which shard counts which subtask: `rounds` consecutive runs of subtasks, `width` shards each.

    Rounds differ by one subtask at most and hold at least `width` subtasks,
    so no shard is ever empty (an empty shard would never be sealed).
    """

    total: int
    shard_count: int  # a multiple of width
    width: int  # shards written at once

    @classmethod
    def plan(cls, total: int, subtasks_per_shard: int, parallel_shards: int) -> ShardLayout:
        """Up to `parallel_shards` shards at a time, none over subtasks_per_shard unless that takes more than
        MAX_SHARDS in all.

        Parallel shards only buy write throughput, so a job gets no more of them than it needs to absorb
        all of its completions in one second, SHARD_COMPLETIONS_PER_SECOND each: a job of up to 250
        subtasks writes to one shard (one reduction, when its shards hold up to 250), one of 1,000 to four
        at most, and a job large enough to keep `parallel_shards` partitions busy to all of them.
        """
        width = max(1, min(parallel_shards, _ceil_div(total, SHARD_COMPLETIONS_PER_SECOND), MAX_SHARDS))
        shards_needed = _ceil_div(total, subtasks_per_shard)
        rounds = max(1, min(_ceil_div(shards_needed, width), MAX_SHARDS // width, total // width))
        return cls(total, width * rounds, width)

    @property
    def rounds(self) -> int:
        return self.shard_count // self.width

    def _round_size(self, round_index: int) -> int:
        return self.total // self.rounds + (1 if round_index < self.total % self.rounds else 0)

    def shard_of(self, subtask_id: int) -> int:
        base, longer = divmod(self.total, self.rounds)  # the first `longer` rounds hold base + 1
        if subtask_id < longer * (base + 1):
            round_index, offset = divmod(subtask_id, base + 1)
        else:
            round_index, offset = divmod(subtask_id - longer * (base + 1), base)
            round_index += longer
        return round_index * self.width + offset % self.width

    def expected(self, shard: int) -> int:
        round_index, position = divmod(shard, self.width)
        size = self._round_size(round_index)
        return size // self.width + (1 if position < size % self.width else 0)

    def first_of(self, shard: int) -> int:
        """The shard's first subtask; the others follow it `width` apart."""
        round_index, position = divmod(shard, self.width)
        base, longer = divmod(self.total, self.rounds)
        return round_index * base + min(round_index, longer) + position

    def last_of(self, shard: int) -> int:
        return self.first_of(shard) + (self.expected(shard) - 1) * self.width


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def layout_of(job: dict[str, Any]) -> ShardLayout:
    """The shard layout a registered job was given."""
    return ShardLayout(int(job["total"]), int(job["shard_count"]), int(job["shard_width"]))


TASK_PREFIX = "TASK#"  # sort keys of a shard's subtask outcomes
ERROR_PREFIX = "ERROR#"  # sort keys of its subtasks' last attempt errors


def job_key(job_id: str) -> dict[str, str]:
    return {"pk": f"JOB#{job_id}", "sk": "JOB"}


PART_PREFIX = "PART#"  # sort keys of a job's dispatch parts, beside its job item


def part_key(job_id: str, part: int) -> dict[str, str]:
    return {"pk": f"JOB#{job_id}", "sk": f"{PART_PREFIX}{part:04d}"}


def part_number(sort_key: str) -> int:
    """The part number in a PART#<n> sort key."""
    return int(sort_key.removeprefix(PART_PREFIX))


def shard_pk(job_id: str, shard: int) -> str:
    return f"JOB#{job_id}#SHARD#{shard:04d}"


def subtask_number(sort_key: str) -> int:
    """The subtask id in a TASK#<i> or ERROR#<i> sort key."""
    return int(sort_key.partition("#")[2])


def job_id_of(partition_key: str) -> str:
    """The job id in a JOB#<id>#SHARD#<n> partition key."""
    return partition_key.removeprefix("JOB#").rpartition("#SHARD#")[0]


def shard_number(partition_key: str) -> int:
    """The shard number in a JOB#<id>#SHARD#<n> partition key."""
    return int(partition_key.rpartition("#SHARD#")[2])


def shard_key(job_id: str, shard: int) -> dict[str, str]:
    return {"pk": shard_pk(job_id, shard), "sk": "SHARD"}


def task_key(job_id: str, shard: int, subtask_id: int) -> dict[str, str]:
    return {"pk": shard_pk(job_id, shard), "sk": f"{TASK_PREFIX}{subtask_id:09d}"}


def error_key(job_id: str, shard: int, subtask_id: int) -> dict[str, str]:
    return {"pk": shard_pk(job_id, shard), "sk": f"{ERROR_PREFIX}{subtask_id:09d}"}


def chain_key(job_id: str, shard: int, subtask_id: int, run: int) -> dict[str, str]:
    return {"pk": shard_pk(job_id, shard), "sk": f"CHAIN#{subtask_id:09d}#{run}"}
