"""Command-line tool for the serverless patterns.

    python -m serverless_patterns_ops submit FILE [--type lines|bytes|jsonl|csv] [--chunk-size N |
        --items-per-subtask N] [--workload NAME] [--tolerated-failure-count N]
        [--tolerated-failure-percentage P] [--job-id ID] [--no-wait]
    python -m serverless_patterns_ops submit --spec SPEC.json [--no-wait]   (any source: objects, items...)
    python -m serverless_patterns_ops status JOB_ID [--watch]
    python -m serverless_patterns_ops result JOB_ID
    python -m serverless_patterns_ops cancel JOB_ID
    python -m serverless_patterns_ops redrive-job JOB_ID [--no-wait]
    python -m serverless_patterns_ops list [--status STATUS]
    python -m serverless_patterns_ops redrive --queue DLQ [--to QUEUE] [--max-per-second N] [--dry-run]
    python -m serverless_patterns_ops export --queue DLQ [--output FILE]
    python -m serverless_patterns_ops dashboard --name DASHBOARD --stack-name NAME [--output FILE]

The job commands read the stack from a JSON file of `terraform output -json`
(--outputs, default build/demo/outputs.json, written by `make demo`); the DLQ
commands take a queue name or URL. AWS_ENDPOINT_URL points the tool at an
emulator.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from serverless_patterns.job_tracker import JobStatus, JobTracker, StopReason
from serverless_patterns_ops.dashboard_doc import render_markdown
from serverless_patterns_ops.fan_out_jobs import (
    describe_job,
    failure_line,
    fetch_result,
    input_key,
    is_final,
    progress_printer,
    render_progress,
    submit_job,
    wait_for_job,
)
from serverless_patterns_ops.jobs_client import JobsClient, JobState
from serverless_patterns_ops.redrive import RedriveError, RedriveSummary, export_to_file, in_flight, redrive

DEFAULT_OUTPUTS = Path("build/demo/outputs.json")
STATUS_INDEX = "by-status"
# The ventilator answers within its timeout (at most 15 minutes). One attempt only:
# a read that timed out must never invoke it a second time.
SUBMIT_CONFIG = Config(read_timeout=960, connect_timeout=10, retries={"total_max_attempts": 1})
MISSING_CODES = {
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "ResourceNotFoundException",
    "NoSuchBucket",
    "NoSuchKey",
    "ResourceNotFound",
}


def _positive(kind: type[int] | type[float]):
    """An argparse type that refuses 0 and below rather than letting them mean something else."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
        return value

    return parse


def _one_line(error: Exception) -> str:
    """What went wrong and what to run, for the errors an operator meets; never a traceback."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "AWS")
    if isinstance(error, EndpointConnectionError):
        return f"cannot reach {endpoint}: start the emulator (make up, or make demo) or check AWS_ENDPOINT_URL"
    if isinstance(error, ReadTimeoutError | ConnectTimeoutError):
        return (
            f"{endpoint} did not answer in time ({error}); nothing was retried: a job being submitted may have "
            "started, `status <job id>` tells"
        )
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials: configure them (aws configure), or point AWS_ENDPOINT_URL at the emulator"
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in MISSING_CODES:
            return (
                f"{message or code}: the resource does not exist at {endpoint}; check the name, "
                "or deploy again (make demo) if the emulator was restarted"
            )
        return f"{error.operation_name} refused by {endpoint}: {code}: {message}"
    return str(error)


def _stack(path: Path) -> dict:
    if not path.is_file():
        sys.exit(f"{path} does not exist: run `make demo` (or save `terraform output -json` there) first")
    outputs = json.loads(path.read_text())
    return outputs["fan_out"]["value"]


def _redrive(args: argparse.Namespace) -> int:
    def show(summary: RedriveSummary) -> None:
        print(f"  moved {summary.moved}/{summary.found} ({len(summary.failed_ids)} failed) via {summary.method}")

    summary = redrive(
        boto3.client("sqs"),
        args.queue,
        destination=args.to,
        max_per_second=args.max_per_second,
        dry_run=args.dry_run,
        method=args.method,
        on_progress=show,
    )
    print(json.dumps(summary.as_dict()))
    if summary.in_flight:
        print(
            f"{summary.in_flight} more are in flight (being received right now) and were not counted or moved: "
            "run redrive again once they return to the DLQ",
            file=sys.stderr,
        )
    return 0 if summary.dry_run or summary.moved == summary.found else 1


def _spec(parser: argparse.ArgumentParser, args: argparse.Namespace, stack: dict) -> dict:
    """The job spec `submit` sends: the --spec file as it is, or FILE uploaded and cut as asked."""
    if args.spec:
        if args.file:
            parser.error("give FILE or --spec, not both")
        try:
            spec = json.loads(args.spec.read_text())
        except (OSError, ValueError) as error:
            parser.error(f"--spec {args.spec}: {error}")
        if not isinstance(spec, dict):
            parser.error(f"--spec {args.spec}: a job spec is a JSON object")
        spec.setdefault("job_id", uuid.uuid4().hex)
        return spec
    if not args.file or not args.file.is_file():
        parser.error(f"{args.file} is not a file" if args.file else "give FILE to upload, or --spec")
    key = input_key(args.file)
    boto3.client("s3").upload_file(str(args.file), stack["bucket_name"], key)
    source: dict = {"type": args.type, "bucket": stack["bucket_name"], "key": key}
    if args.chunk_size:
        source["chunk_size_bytes"] = args.chunk_size
    if args.items_per_subtask:
        source["items_per_subtask"] = args.items_per_subtask
    spec = {"job_id": args.job_id or uuid.uuid4().hex, "source": source}
    optional = {
        "workload": args.workload,
        "tolerated_failure_count": args.tolerated_failure_count,
        "tolerated_failure_percentage": args.tolerated_failure_percentage,
    }
    return {**spec, **{name: value for name, value in optional.items() if value is not None}}


def _follow(tracker: JobTracker, answer: dict, job_id: str, args: argparse.Namespace) -> int:
    """Print the ventilator's answer, then follow the job to its end unless --no-wait."""
    print(json.dumps(answer))
    if "error" in answer:
        error = answer["error"]
        print(f"refused: {error['field']}: {error['message']} (fix: {error['fix']})", file=sys.stderr)
        return 1
    if args.no_wait:
        return 0
    job = wait_for_job(tracker, job_id, args.timeout, on_progress=progress_printer())
    print("\n".join(describe_job(job)))
    return 0 if job["status"] == JobStatus.SUCCEEDED else 1


def _jobs_client(stack: dict) -> JobsClient:
    return JobsClient.of_stack(stack, boto3.client("lambda", config=SUBMIT_CONFIG))


def _print_state(state: JobState) -> None:
    print(json.dumps({"job_id": state.job_id, "status": state.status, "total": state.total, "counts": state.counts}))


def _through_api(args: argparse.Namespace, parser: argparse.ArgumentParser, stack: dict) -> int:
    """submit, status and cancel through the job API (--api) instead of the ventilator and the tracker."""
    jobs = _jobs_client(stack)
    if args.command == "cancel":
        _print_state(jobs.cancel(args.job_id))
        print(f"job {args.job_id}: cancel requested; running subtasks finish, the others are skipped")
        return 0
    if args.command == "submit":
        state = jobs.submit(_spec(parser, args, stack))
        print(json.dumps({"job_id": state.job_id, "status": state.status, "status_url": state.status_url}))
        if args.no_wait:
            return 0
    else:
        state = jobs.status(args.job_id)
        if state is None:
            sys.exit(f"job {args.job_id} not found (a job just submitted appears once it is planned)")
        if not args.watch:
            _print_state(state)
            return 0
    done = jobs.wait(state.job_id, args.timeout, on_progress=_print_state)
    for failure in done.failures:
        print(failure_line(failure))
    return 0 if done.status == JobStatus.SUCCEEDED else 1


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except (ClientError, BotoCoreError, RedriveError, LookupError, TimeoutError, RuntimeError) as error:
        # JobApiError (a RuntimeError) names the field and the fix the job API gave.
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 1


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serverless_patterns_ops", description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=Path, default=DEFAULT_OUTPUTS, help="terraform output -json of the stack")
    parser.add_argument(
        "--api", action="store_true", help="submit, status and cancel through the stack's job API (fan_out_api)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    submit = commands.add_parser("submit", help="upload a file and start a job over it, or submit a job spec")
    submit.add_argument("file", type=Path, nargs="?")
    submit.add_argument("--spec", type=Path, help="a JSON job spec to submit as it is (no upload)")
    submit.add_argument("--type", choices=["lines", "bytes", "jsonl", "csv"], default="lines", help="how to cut FILE")
    cut = submit.add_mutually_exclusive_group()
    cut.add_argument("--chunk-size", type=_positive(int), help="bytes per subtask (default: the stack's)")
    cut.add_argument("--items-per-subtask", type=_positive(int), help="records per subtask (jsonl, csv)")
    submit.add_argument("--workload", help="the deployed workload to run (default: the stack's default_workload)")
    submit.add_argument("--tolerated-failure-count", type=int, help="end the job FAILED past this many failures")
    submit.add_argument("--tolerated-failure-percentage", type=float, help="... or past this share of subtasks")
    submit.add_argument("--job-id")
    submit.add_argument("--no-wait", action="store_true", help="return once the job is dispatched")
    submit.add_argument("--timeout", type=_positive(float), default=1800)
    status = commands.add_parser("status", help="show a job's progress")
    status.add_argument("job_id")
    status.add_argument("--watch", action="store_true", help="follow it until it finishes")
    status.add_argument("--timeout", type=_positive(float), default=1800)
    result = commands.add_parser("result", help="print a finished job's consolidated result")
    result.add_argument("job_id")
    cancel = commands.add_parser("cancel", help="cancel a running job: what is not running yet is skipped")
    cancel.add_argument("job_id")
    redrive_job = commands.add_parser("redrive-job", help="run the failed and skipped subtasks of a job again")
    redrive_job.add_argument("job_id")
    redrive_job.add_argument("--no-wait", action="store_true", help="return once they are sent")
    redrive_job.add_argument("--timeout", type=_positive(float), default=1800)
    listing = commands.add_parser("list", help="list jobs by status")
    listing.add_argument("--status", choices=[status.value for status in JobStatus])
    moving = commands.add_parser("redrive", help="move a DLQ's messages back to their source queue")
    moving.add_argument("--queue", required=True, help="the dead-letter queue (name or URL)")
    moving.add_argument("--to", help="destination queue (default: the DLQ's source queue)")
    moving.add_argument("--max-per-second", type=_positive(float), help="move at most this many messages per second")
    moving.add_argument("--dry-run", action="store_true", help="count what would move, move nothing")
    moving.add_argument("--method", choices=["auto", "move-task", "copy"], default="auto")
    exporting = commands.add_parser("export", help="write a DLQ's messages to a JSON-lines file, leaving them")
    exporting.add_argument("--queue", required=True, help="the dead-letter queue (name or URL)")
    exporting.add_argument("--output", type=Path, default=Path("build/dlq-export.jsonl"))
    dashboard = commands.add_parser("dashboard", help="export a CloudWatch dashboard as Markdown")
    dashboard.add_argument("--name", required=True, help="the dashboard's name, e.g. sp-dev-queues")
    dashboard.add_argument("--stack-name", required=True, help="the stack's name prefix, shown as <name>")
    dashboard.add_argument("--output", type=Path, help="write here instead of printing")
    args = parser.parse_args(argv)

    if args.command == "redrive":
        return _redrive(args)
    if args.command == "export":
        sqs = boto3.client("sqs")
        count = export_to_file(sqs, args.queue, args.output)
        print(f"exported {count} messages from {args.queue} to {args.output} (left in the queue)")
        if waiting := in_flight(sqs, args.queue):
            print(
                f"{waiting} more are in flight (being received right now) and were not exported: "
                "they return to the queue after its visibility timeout unless processed; run export again then"
            )
        return 0

    if args.command == "dashboard":
        body = boto3.client("cloudwatch").get_dashboard(DashboardName=args.name)["DashboardBody"]
        page = render_markdown(body, args.stack_name)
        if args.output:
            args.output.write_text(page)
        else:
            print(page, end="")
        return 0

    stack = _stack(args.outputs)
    if args.api and args.command in {"submit", "status", "cancel"}:
        return _through_api(args, parser, stack)
    tracker = JobTracker(boto3.resource("dynamodb").Table(stack["tracker_table_name"]))

    if args.command == "submit":
        spec = _spec(parser, args, stack)
        answer = submit_job(boto3.client("lambda", config=SUBMIT_CONFIG), stack["ventilator_function_name"], spec)
        return _follow(tracker, answer, spec["job_id"], args)

    if args.command == "cancel":
        if tracker.get_job(args.job_id) is None:
            sys.exit(f"job {args.job_id} not found: `list` shows the jobs this stack knows")
        if tracker.request_stop(args.job_id, StopReason.CANCELLED) is None:
            sys.exit(f"job {args.job_id} is not running, or is stopping already: `status {args.job_id}` shows it")
        print(f"job {args.job_id}: cancel requested; running subtasks finish, the others are skipped")
        return 0

    if args.command == "redrive-job":
        answer = submit_job(
            boto3.client("lambda", config=SUBMIT_CONFIG),
            stack["ventilator_function_name"],
            {"redrive": {"job_id": args.job_id}},
        )
        return _follow(tracker, answer, args.job_id, args)

    if args.command == "status":
        if args.watch:
            job = wait_for_job(tracker, args.job_id, args.timeout, on_progress=progress_printer())
        else:
            progress = tracker.progress(args.job_id)
            if progress is None:
                sys.exit(f"job {args.job_id} not found: `list` shows the jobs this stack knows")
            print(render_progress(progress))
            job = progress.job
        print("\n".join(describe_job(job)))
        return 0

    if args.command == "result":
        job = tracker.get_job(args.job_id)
        if job is None or not is_final(job):
            sys.exit(f"job {args.job_id} has no result yet")
        if "key" not in job.get("result", {}):
            sys.exit("\n".join([f"job {args.job_id} ended without a result:", *describe_job(job)]))
        print(json.dumps(fetch_result(boto3.client("s3"), job), indent=2))
        return 0

    statuses = [JobStatus(args.status)] if args.status else list(JobStatus)
    for job_status in statuses:
        for job in tracker.jobs_in_status(job_status, STATUS_INDEX):
            print(f"{job['job_id']}  {job['status']:<10} total={job.get('total', 0):<8} created={job['created_at']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
