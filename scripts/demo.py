"""`make demo`: apply envs/local to the emulator, burst the load leveler, report.

Sends a burst of write requests through the HTTP API plus one poison message
straight onto the queue, waits until the queue has drained, and prints what
happened: sent, accepted, stored, in the DLQ, timings and the consumers' peak
concurrency against the cap.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "ops"))

from serverless_patterns_ops.http_api import producer_client  # noqa: E402
from serverless_patterns_ops.load_leveling import (  # noqa: E402
    peak_concurrency,
    queue_depth,
    scan_items,
    send_burst,
    wait_for,
)

ENV_DIR = REPO_ROOT / "envs" / "local"


def terraform(state_dir: Path, *args: str, capture: bool = False) -> str:
    env = {**os.environ, "TF_DATA_DIR": str(state_dir / "tfdata"), "TF_VAR_name": "sp-demo"}
    command = ["terraform", f"-chdir={ENV_DIR}", *args]
    if capture:
        return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return ""


def deploy(state_dir: Path) -> dict:
    state_dir.mkdir(parents=True, exist_ok=True)
    state = f"-state={state_dir / 'terraform.tfstate'}"
    started = time.monotonic()
    print("Applying envs/local to the emulator (queues take ~25 s each to settle)...", flush=True)
    terraform(state_dir, "init", "-input=false", "-no-color")
    terraform(state_dir, "apply", "-input=false", "-auto-approve", "-no-color", state)
    outputs = json.loads(terraform(state_dir, "output", "-json", state, capture=True))
    print(f"  deployed in {time.monotonic() - started:.0f} s")
    return outputs["load_leveler"]["value"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="size of the burst (default 2000)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients (default 16)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the queue to drain")
    args = parser.parse_args()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    stack = deploy(REPO_ROOT / "build" / "demo")
    sqs = boto3.client("sqs")
    table = boto3.resource("dynamodb").Table(stack["table_name"])
    run_id = uuid.uuid4().hex[:8]

    via = "the HTTP API" if stack["api_endpoint"] else "direct invocation (no HTTP API)"
    print(f"Sending a burst of {args.requests} write requests through {via}, {args.clients} clients...", flush=True)
    producer = producer_client(stack, boto3.client("lambda"))
    burst = send_burst(producer, args.requests, args.clients, run_id=run_id)
    print(f"  {len(burst.accepted)} accepted (202) in {burst.seconds:.1f} s, {len(burst.rejected)} rejected")
    poison_id = f"{run_id}-poison"
    sqs.send_message(QueueUrl=stack["queue_url"], MessageBody=json.dumps({"request_id": poison_id}))
    print("  plus 1 poison message put straight onto the queue (no payload: the consumer cannot store it)")

    print(
        f"Draining at most {stack['maximum_concurrency']} consumers x "
        f"{stack['writes_per_second_per_consumer']} writes/s...",
        flush=True,
    )
    drain_started = time.monotonic()
    accepted = set(burst.accepted)

    def stored_items() -> list[dict]:
        return [item for item in scan_items(table) if item["request_id"].startswith(run_id)]

    drained = wait_for(
        lambda: queue_depth(sqs, stack["queue_url"]) == 0 and queue_depth(sqs, stack["dlq_url"]) >= 1,
        timeout=args.timeout,
        interval=2,
    )
    drain_seconds = time.monotonic() - drain_started
    items = stored_items()
    stored_ids = {item["request_id"] for item in items}
    in_dlq = queue_depth(sqs, stack["dlq_url"])

    print()
    print(f"  sent                 {args.requests}")
    print(f"  accepted             {len(burst.accepted)} in {burst.seconds:.1f} s")
    print(f"  stored               {len(stored_ids & accepted)} (missing {len(accepted - stored_ids)})")
    print(f"  in DLQ               {in_dlq} (the poison message)")
    print(f"  time to drain        {drain_seconds:.1f} s after the burst")
    print(f"  peak consumers       {peak_concurrency(items)} (cap {stack['maximum_concurrency']})")
    if not drained or accepted - stored_ids:
        sys.exit("the queue did not drain completely: see build/emulator/ministack.log")


if __name__ == "__main__":
    main()
