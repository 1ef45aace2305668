"""The example workloads (examples/workloads) end to end on the emulator, with cancel and redrive.

Each job's expectation is computed here from the generated input, independently
of the workload code: totals per region over 200,000 CSV rows (merged), and
the size, line count and SHA-256 of each of 2,000 objects under a prefix
(written per subtask, not merged).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from serverless_patterns.fan_in.tracker import JobStatus, StopReason
from serverless_patterns_ops.fan_out_jobs import fetch_result, sample_text, submit_job, wait_for_job

# Runs the stack's functions: LocalStack does that only in Docker (README, "Emulators").
pytestmark = pytest.mark.lambda_runtime

JOB_TIMEOUT_SECONDS = 900
REGIONS = ["north", "south", "east", "west", "centre"]
BAD_ROWS = frozenset({7, 12_001, 29_998})
BAD_SUBTASKS = [0, 12, 29]


def orders_csv(rows: int, seed: int, bad_rows: frozenset[int] = frozenset()) -> tuple[bytes, list[tuple]]:
    """A CSV of orders (a bad amount in `bad_rows`), and its rows as (region, quantity, cents or None)."""
    rng = random.Random(seed)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["order_id", "region", "quantity", "amount"])
    orders = []
    for order in range(rows):
        region, quantity, cents = rng.choice(REGIONS), rng.randint(1, 20), rng.randint(1, 99_999)
        bad = order in bad_rows
        writer.writerow([order, region, quantity, "lots" if bad else f"{cents // 100}.{cents % 100:02d}"])
        orders.append((region, quantity, None if bad else cents))
    return text.getvalue().encode(), orders


def totals_of(orders: list[tuple], counted=lambda order: True) -> dict:
    """Orders, quantity and amount in cents per region, computed without the workload's code."""
    totals: dict[str, dict[str, int]] = {}
    for number, (region, quantity, cents) in enumerate(orders):
        if counted(number):
            region_totals = totals.setdefault(region, {"orders": 0, "quantity": 0, "amount_cents": 0})
            region_totals["orders"] += 1
            region_totals["quantity"] += quantity
            region_totals["amount_cents"] += cents
    return dict(sorted(totals.items()))


def lines_of(s3, bucket: str, files: list[dict]) -> list[dict]:
    return [
        json.loads(line)
        for file in files
        for line in s3.get_object(Bucket=bucket, Key=file["key"])["Body"].read().splitlines()
    ]


@pytest.fixture(scope="module")
def finished(fan_out, tracker) -> dict:
    """The CSV, objects, bad-CSV and cancelled jobs, submitted together and waited for."""
    s3, lambda_client = boto3.client("s3"), boto3.client("lambda")
    bucket, run = fan_out["bucket_name"], uuid.uuid4().hex[:8]
    orders, order_rows = orders_csv(200_000, seed=11)
    bad_orders, bad_order_rows = orders_csv(30_000, seed=12, bad_rows=BAD_ROWS)
    s3.put_object(Bucket=bucket, Key=f"inputs/{run}/orders.csv", Body=orders)
    s3.put_object(Bucket=bucket, Key=f"inputs/{run}/bad-orders.csv", Body=bad_orders)
    rng = random.Random(13)
    objects = {f"inputs/{run}/objects/{i:05d}.txt": sample_text(rng.randint(0, 3000), seed=i) for i in range(2000)}
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda item: s3.put_object(Bucket=bucket, Key=item[0], Body=item[1]), objects.items()))
    cancelled_text = sample_text(300_000, seed=14)
    s3.put_object(Bucket=bucket, Key=f"inputs/{run}/cancelled.txt", Body=cancelled_text)

    def csv_source(name: str, per: int) -> dict:
        return {"type": "csv", "bucket": bucket, "key": f"inputs/{run}/{name}", "items_per_subtask": per}

    specs = {
        "csv": {"workload": "csv_totals", "source": csv_source("orders.csv", 2000)},
        "bad_csv": {"workload": "csv_totals", "source": csv_source("bad-orders.csv", 1000)},
        "objects": {
            "workload": "object_stats",
            "source": {
                "type": "objects",
                "bucket": bucket,
                "prefix": f"inputs/{run}/objects/",
                "items_per_subtask": 20,
            },
        },
        "cancelled": {
            "workload": "word_count",
            "source": {
                "type": "lines",
                "bucket": bucket,
                "key": f"inputs/{run}/cancelled.txt",
                "chunk_size_bytes": 256,
            },
        },
    }
    answers = {
        name: submit_job(lambda_client, fan_out["ventilator_function_name"], {"job_id": f"{run}-{name}", **spec})
        for name, spec in specs.items()
    }
    refused = {name: answer["error"] for name, answer in answers.items() if "error" in answer}
    assert not refused, refused
    cancel = tracker.request_stop(f"{run}-cancelled", StopReason.CANCELLED)
    with ThreadPoolExecutor(max_workers=len(answers)) as pool:
        jobs = dict(
            zip(
                answers,
                pool.map(
                    lambda answer: wait_for_job(tracker, answer["job_id"], JOB_TIMEOUT_SECONDS, 2), answers.values()
                ),
                strict=True,
            )
        )
    return {
        "s3": s3,
        "bucket": bucket,
        "answers": answers,
        "jobs": jobs,
        "totals": totals_of(order_rows),
        # A subtask holds 1,000 records: those of a subtask with a bad one are not counted.
        "bad_totals": totals_of(bad_order_rows, lambda number: number // 1000 not in BAD_SUBTASKS),
        "objects": objects,
        "cancel_accepted": cancel is not None,
    }


def test_csv_totals_over_200000_rows_are_exact(finished):
    job = finished["jobs"]["csv"]
    result = fetch_result(finished["s3"], job)

    assert job["status"] == JobStatus.SUCCEEDED
    assert (result["total"], result["succeeded"], result["failed"]) == (100, 100, 0)
    assert result["result"]["regions"] == finished["totals"]


def test_per_object_stats_over_a_prefix_are_written_per_subtask_without_a_merge(finished):
    job = finished["jobs"]["objects"]
    result = fetch_result(finished["s3"], job)

    assert job["status"] == JobStatus.SUCCEEDED
    assert (result["total"], result["succeeded"], result["result"]) == (100, 100, None)
    lines = lines_of(finished["s3"], finished["bucket"], result["files"]["succeeded"])
    stats = {entry["key"]: entry for line in lines for entry in line["result"]}
    assert len(stats) == len(finished["objects"])
    for key, content in finished["objects"].items():
        expected = {
            "key": key,
            "size": len(content),
            "lines": content.count(b"\n"),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        assert stats[key] == expected
    assert all(line["item"]["keys"] == [entry["key"] for entry in line["result"]] for line in lines)


def test_bad_records_fail_their_subtasks_with_reasons_and_a_redrive_reruns_only_those(finished, fan_out, tracker):
    job = finished["jobs"]["bad_csv"]
    first = fetch_result(finished["s3"], job)
    assert job["status"] == JobStatus.PARTIAL
    assert first["failed_subtask_ids"] == BAD_SUBTASKS
    failed = lines_of(finished["s3"], finished["bucket"], first["files"]["failed"])
    assert {line["type"] for line in failed} == {"BadOrder"}
    assert all("'lots' is not a number" in line["message"] for line in failed)
    assert first["result"]["regions"] == finished["bad_totals"]

    answer = submit_job(
        boto3.client("lambda"), fan_out["ventilator_function_name"], {"redrive": {"job_id": job["job_id"]}}
    )
    assert (answer["status"], answer["redriven"]) == ("RUNNING", 3)
    again = wait_for_job(tracker, job["job_id"], JOB_TIMEOUT_SECONDS, 2)
    second = fetch_result(finished["s3"], again)

    # The input is as bad as before: the same three fail again, counted once each, and the rest is unchanged.
    assert (again["status"], second["redrives"]) == (JobStatus.PARTIAL, 1)
    assert (second["succeeded"], second["failed"], second["missing"]) == (27, 3, 0)
    assert second["failed_subtask_ids"] == BAD_SUBTASKS
    assert second["result"] == first["result"]


def test_a_cancelled_job_ends_cancelled_with_every_subtask_counted_once(finished):
    job = finished["jobs"]["cancelled"]
    result = fetch_result(finished["s3"], job)

    assert finished["cancel_accepted"]
    assert job["status"] == JobStatus.CANCELLED
    assert result["skipped"] > 0
    assert (
        result["succeeded"] + result["failed"] + result["skipped"]
        == result["total"]
        == finished["answers"]["cancelled"]["total"]
    )
    assert result["missing"] == 0
