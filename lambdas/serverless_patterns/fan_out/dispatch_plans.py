"""A registered job's dispatch plan: which subtasks it has, and how each is built from the plan's manifest."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from serverless_patterns.fan_in.tracker import ShardLayout, layout_of
from serverless_patterns.fan_out import planning
from serverless_patterns.fan_out.jobs import Subtask
from serverless_patterns.fan_out.planning import Plan
from serverless_patterns.shared import aws_clients, settings


@dataclass(frozen=True)
class DispatchPlan:
    """Everything needed to send a registered job's subtasks, in this invocation or the next."""

    job_id: str
    correlation_id: str
    workload: str
    plan: Plan
    layout: ShardLayout
    expires_at: int
    run: int = 0
    tolerance: bool = False
    block_size: int = 0  # a windowed job's (tracker.Window); 0: the job is dispatched whole
    parts: int = 0  # a job dispatched whole in parts side by side (tracker.dispatch_parts); 0: in one

    @classmethod
    def of_job(cls, job: dict[str, Any]) -> DispatchPlan:
        """The plan of a registered job, as the tracker holds it."""
        return cls(
            job_id=job["job_id"],
            correlation_id=job["correlation_id"],
            workload=job.get("workload", ""),
            plan=Plan.from_dict(job["plan"]),
            layout=layout_of(job),
            expires_at=int(job["expires_at"]),
            run=int(job.get("run", 0)),
            tolerance=job.get("failure_limit") is not None,
            block_size=int(job.get("block_size", 0)),
            parts=int(job.get("dispatch_parts", 0)),
        )

    @property
    def total(self) -> int:
        return self.layout.total

    def subtasks(self, ids: Iterable[int]) -> list[Subtask]:
        bucket = settings.required("JOB_BUCKET")

        def read_part(key: str) -> list[dict[str, Any]]:
            return _manifest_part(bucket, key)

        return [
            Subtask(
                job_id=self.job_id,
                subtask_id=subtask_id,
                shard=self.layout.shard_of(subtask_id),
                correlation_id=self.correlation_id,
                expires_at=self.expires_at,
                work=work,
                workload=self.workload,
                run=self.run,
                tolerance=self.tolerance,
                block_end=self.block_end(subtask_id),
            )
            for run_start, run_end in _runs(ids)
            for subtask_id, work in enumerate(self.plan.works(run_start, run_end, read_part), start=run_start)
        ]

    def block_end(self, subtask_id: int) -> int:
        """The end of the subtask's block, for a windowed job's first run; 0 otherwise (a redrive is sent whole)."""
        if not self.block_size or self.run:
            return 0
        return min((subtask_id // self.block_size + 1) * self.block_size, self.total)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "plan": self.plan.as_dict()}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> DispatchPlan:
        return cls(
            **{**document, "plan": Plan.from_dict(document["plan"]), "layout": ShardLayout(**document["layout"])}
        )


@lru_cache(maxsize=4)
def _manifest_part(bucket: str, key: str) -> list[dict[str, Any]]:
    """A part of a plan's manifest, which never changes: kept for the next subtasks built from it (ids come in
    order to the ventilator; a windowed job's lanes build one subtask at a time, each from the part it is in)."""
    return planning.read_part(aws_clients.client("s3"), bucket)(key)


def _runs(ids: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Consecutive ids as [start, end) ranges: 3,4,5,9 -> (3, 6), (9, 10)."""
    start = end = None
    for subtask_id in ids:
        if start is not None and subtask_id == end:
            end += 1
            continue
        if start is not None:
            yield start, end
        start, end = subtask_id, subtask_id + 1
    if start is not None:
        yield start, end
