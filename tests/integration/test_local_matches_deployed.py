"""The local runner and the deployed stack give the same results, for every example workload, on the same S3 input.

One small job per workload (word_count, csv_totals, object_stats, line_digest)
is submitted to the stack on the emulator and run locally with
serverless_patterns_ops.local_run.run_job on the same objects, with the
env's shard size and limits: the manifests and the succeeded/failed records
must be equal, and so must the merged results. line_digest's results name
the invocations that did the work, which depend on timing: they are compared
without them, and each must be 1, 2, 3...
"""

from __future__ import annotations

import json
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

from integration.test_workloads import orders_csv
from serverless_patterns.fan_out.sources import Limits
from serverless_patterns_ops.fan_out_jobs import fetch_result, sample_text, submit_job, wait_for_job
from serverless_patterns_ops.local_run import configured_workloads, run_job

# Runs the stack's functions: LocalStack does that only in Docker (README, "Emulators").
pytestmark = pytest.mark.lambda_runtime

JOB_TIMEOUT_SECONDS = 600
REPO_ROOT = Path(__file__).resolve().parents[2]


def _max_receive_count(queue_url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
    return int(json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"])


def deployed_settings(fan_out: dict) -> dict:
    """run_job's settings as the stack has them: its limits, shard layout, receives, line and chain bounds."""
    lambda_client = boto3.client("lambda")
    ventilator = lambda_client.get_function_configuration(FunctionName=fan_out["ventilator_function_name"])
    worker = lambda_client.get_function_configuration(FunctionName=fan_out["worker_function_name"])
    planning, running = ventilator["Environment"]["Variables"], worker["Environment"]["Variables"]
    return {
        "limits": Limits(
            int(planning["MIN_CHUNK_SIZE_BYTES"]), int(planning["MAX_CHUNK_SIZE_BYTES"]), int(planning["MAX_SUBTASKS"])
        ),
        "subtasks_per_shard": int(planning["SUBTASKS_PER_SHARD"]),
        "parallel_shards": int(planning["PARALLEL_SHARDS"]),
        "max_attempts": _max_receive_count(running["SUBTASK_QUEUE_URL"]),
        # A resumable workload gets the worker's timeout less the reserve its checkpoint is saved in.
        "invocation_seconds": worker["Timeout"] - float(running["CHECKPOINT_RESERVE_SECONDS"]),
        "max_continuations": int(running["MAX_CONTINUATIONS"]),
        "max_line_bytes": int(running["MAX_LINE_BYTES"]),
    }


@pytest.fixture(scope="module")
def both(fan_out, tracker, tmp_path_factory) -> dict:
    """Each workload's job, deployed and local: {name: (deployed manifest with "result", local job)}."""
    s3, bucket, run = boto3.client("s3"), fan_out["bucket_name"], uuid.uuid4().hex[:8]
    orders, _ = orders_csv(20_000, seed=21, bad_rows=frozenset({4_321}))
    s3.put_object(Bucket=bucket, Key=f"inputs/{run}/orders.csv", Body=orders)
    s3.put_object(Bucket=bucket, Key=f"inputs/{run}/text.txt", Body=sample_text(20_000, seed=22))
    rng = random.Random(23)
    for index in range(50):
        s3.put_object(
            Bucket=bucket, Key=f"inputs/{run}/objects/{index:03d}.txt", Body=sample_text(rng.randint(0, 2000), index)
        )
    specs = {
        "word_count": {"type": "lines", "bucket": bucket, "key": f"inputs/{run}/text.txt", "chunk_size_bytes": 1024},
        "csv_totals": {"type": "csv", "bucket": bucket, "key": f"inputs/{run}/orders.csv", "items_per_subtask": 2000},
        "object_stats": {
            "type": "objects",
            "bucket": bucket,
            "prefix": f"inputs/{run}/objects/",
            "items_per_subtask": 10,
        },
        "line_digest": {"type": "items", "items": [f"frame {i:03d}" for i in range(60)], "items_per_subtask": 30},
    }
    specs = {name: {"job_id": f"{run}-{name}", "workload": name, "source": source} for name, source in specs.items()}
    answers = {
        name: submit_job(boto3.client("lambda"), fan_out["ventilator_function_name"], spec)
        for name, spec in specs.items()
    }
    refused = {name: answer["error"] for name, answer in answers.items() if "error" in answer}
    assert not refused, refused

    settings = deployed_settings(fan_out)
    workloads = configured_workloads(REPO_ROOT / "envs" / "local" / "workloads.auto.tfvars.json")
    output = tmp_path_factory.mktemp("local-results")
    local = {
        name: run_job(
            spec,
            output=output,
            workloads=workloads,
            workers=4,
            s3=s3,
            **settings,
        )
        for name, spec in specs.items()
    }
    with ThreadPoolExecutor(max_workers=len(answers)) as pool:
        jobs = list(
            pool.map(lambda answer: wait_for_job(tracker, answer["job_id"], JOB_TIMEOUT_SECONDS, 2), answers.values())
        )
    deployed = {name: fetch_result(s3, job) for name, job in zip(answers, jobs, strict=True)}
    for manifest in deployed.values():
        manifest["records"] = {
            outcome: [
                json.loads(line)
                for file in manifest["files"][outcome]
                for line in s3.get_object(Bucket=bucket, Key=file["key"])["Body"].read().splitlines()
            ]
            for outcome in ("succeeded", "failed")
        }
    return {name: (deployed[name], local[name]) for name in specs}


def _without_invocations(records: list[dict]) -> list[dict]:
    return [
        {**record, "result": {k: v for k, v in record["result"].items() if k != "invocations"}} for record in records
    ]


@pytest.mark.parametrize("name", ["word_count", "csv_totals", "object_stats"])
def test_local_and_deployed_results_are_equal(both, name):
    deployed, local = both[name]
    manifest = {key: value for key, value in deployed.items() if key not in ("result", "records")}

    assert local.manifest == manifest
    assert local.result == deployed["result"]
    assert local.records("succeeded") == sorted(deployed["records"]["succeeded"], key=lambda r: r["subtask_id"])
    assert local.records("failed") == sorted(deployed["records"]["failed"], key=lambda r: r["subtask_id"])


def test_csv_totals_fails_the_same_subtask_for_the_same_bad_record_in_both(both):
    deployed, local = both["csv_totals"]
    assert (local.status, local.failed) == (deployed["status"], deployed["failed"]) == ("PARTIAL", 1)
    assert [(f["subtask_id"], f["type"]) for f in local.failures] == [(2, "BadOrder")]


def test_a_resumable_workload_gives_the_same_digests_over_its_checkpoints(both):
    deployed, local = both["line_digest"]
    succeeded = sorted(deployed["records"]["succeeded"], key=lambda r: r["subtask_id"])

    assert (local.status, deployed["status"]) == ("SUCCEEDED", "SUCCEEDED")
    assert _without_invocations(local.records()) == _without_invocations(succeeded)
    for record in [*local.records(), *succeeded]:
        # 30 items of 0.2 s in invocations of 4 s: both went through checkpoints, numbered 1, 2...
        invocations = record["result"]["invocations"]
        assert len(invocations) >= 2, invocations
        assert invocations == list(range(1, len(invocations) + 1))
