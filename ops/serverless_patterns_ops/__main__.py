"""Command-line tool for the serverless patterns: jobs on a deployed stack, their inputs and results, DLQs.

    serverless-patterns upload PATH [--type lines|bytes|jsonl|csv]   (a folder: an `objects` prefix)
    serverless-patterns submit FILE|FOLDER [--type lines|bytes|jsonl|csv] [--chunk-size N |
        --items-per-subtask N] [--workload NAME] [--tolerated-failure-count N]
        [--tolerated-failure-percentage P] [--max-concurrency N] [--job-id ID] [--no-wait]
    serverless-patterns submit --spec SPEC.json [--no-wait]   (any source: objects, items...)
    serverless-patterns status JOB [--watch]
    serverless-patterns result JOB
    serverless-patterns download JOB [--to DIR]
    serverless-patterns cancel JOB
    serverless-patterns set-concurrency JOB N   (a running job's max_concurrency)
    serverless-patterns redrive-job JOB [--no-wait]
    serverless-patterns list [--status STATUS]
    serverless-patterns redrive --queue DLQ [--to QUEUE] [--max-per-second N] [--dry-run]
    serverless-patterns export --queue DLQ [--output FILE]
    serverless-patterns dashboard --name DASHBOARD --stack-name NAME [--output FILE]
    serverless-patterns run-local SPEC.json|FILE|FOLDER [--workload NAME | --process pkg.mod:fn]
        [--output DIR] [--workers N [--processes]]   (in this process, no stack: see local_cli)

`pip install <checkout or git URL>` installs the `serverless-patterns`
command; in the checkout, `python -m serverless_patterns_ops` with
PYTHONPATH=lambdas:ops is the same tool (the make job targets run it so).

Inputs go under inputs/ of the stack's bucket (incoming/ would start a job
with the default workload): a file by its content's digest, a folder as an
`objects` prefix. A job's results are under results/<job>/: manifest.json,
succeeded/*.jsonl, failed/*.jsonl and result.json (with a merge); `download`
writes them into a folder in that layout.

The job commands read the stack from `terraform output -json` saved to a
file: --outputs FILE, else $SERVERLESS_PATTERNS_OUTPUTS, else
build/demo/outputs.json in the current folder or in the checkout this tool
runs from (`make demo` writes it). The DLQ commands take a queue name or URL.
AWS_ENDPOINT_URL points the tool at an emulator.

Exit codes:
  0  done; a job followed to its end (submit, redrive-job, status --watch) SUCCEEDED
  1  an error: unknown job, refused spec, no stack outputs, an AWS error, a wait that timed out
  2  usage: a missing or invalid argument
  3  a job followed to its end ended PARTIAL (some subtasks failed, within its tolerance)
  4  ... ended FAILED or TIMED_OUT
  5  ... ended CANCELLED
`status` without --watch, `result` and `download` exit 0 whatever the job's outcome.
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

from serverless_patterns.fan_in.tracker import JobStatus, JobTracker, StopReason
from serverless_patterns_ops import local_cli
from serverless_patterns_ops.dashboard_doc import render_markdown
from serverless_patterns_ops.fan_out_jobs import (
    describe_job,
    failure_line,
    fetch_result,
    is_final,
    progress_printer,
    render_progress,
    submit_job,
    wait_for_job,
)
from serverless_patterns_ops.jobs_client import JobsClient, JobState
from serverless_patterns_ops.redrive import RedriveError, RedriveSummary, export_to_file, in_flight, redrive
from serverless_patterns_ops.stack_outputs import DEFAULT_OUTPUTS, OUTPUTS_ENV, fan_out_stack
from serverless_patterns_ops.transfer import FILE_SOURCE_TYPES, TransferError, download_results, upload

PROG = "serverless-patterns"
EXIT_ERROR, EXIT_USAGE = 1, 2
# A job's outcome as the exit code of the commands that follow it to its end (the module docstring lists them).
OUTCOME_EXIT_CODES = {
    JobStatus.SUCCEEDED: 0,
    JobStatus.PARTIAL: 3,
    JobStatus.FAILED: 4,
    JobStatus.TIMED_OUT: 4,
    JobStatus.CANCELLED: 5,
}
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


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line naming the argument, not the whole usage text."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (`{self.prog} --help` shows the usage)\n")


def _job_id(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a job id, as `list` shows them")
    return text


def _local_path(text: str) -> Path:
    # Path("") is ".", the current folder: an empty FILE must never upload it.
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a file or a folder")
    return Path(text)


def _outcome(status: str) -> int:
    return OUTCOME_EXIT_CODES.get(JobStatus(status), EXIT_ERROR)


def _unknown(job_id: str) -> str:
    return f"error: unknown job {job_id}: `list` shows the jobs of this stack"


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


def _check_local_paths(parsers: dict[str, argparse.ArgumentParser], args: argparse.Namespace) -> None:
    """Usage errors about local files, before anything is read from the stack."""
    if args.command == "upload" and not args.path.exists():
        parsers["upload"].error(f"PATH {args.path} does not exist: give a file or a folder")
    if args.command != "submit":
        return
    parser = parsers["submit"]
    if args.spec and args.file:
        parser.error("give FILE or --spec, not both")
    if not args.spec and not args.file:
        parser.error("FILE is required: give a file or a folder to upload and submit, or --spec SPEC.json")
    if args.file and not args.file.exists():
        parser.error(f"FILE {args.file} does not exist: give a file or a folder")


def _spec(parser: argparse.ArgumentParser, args: argparse.Namespace, stack: dict) -> dict:
    """The job spec `submit` sends: the --spec file as it is, or FILE uploaded and cut as asked."""
    if args.spec:
        try:
            spec = json.loads(args.spec.read_text())
        except (OSError, ValueError) as error:
            parser.error(f"--spec {args.spec}: {error}")
        if not isinstance(spec, dict):
            parser.error(f"--spec {args.spec}: a job spec is a JSON object")
        spec.setdefault("job_id", uuid.uuid4().hex)
        return spec
    source: dict = upload(boto3.client("s3"), stack["bucket_name"], args.file, args.type)
    if args.chunk_size:
        source["chunk_size_bytes"] = args.chunk_size
    if args.items_per_subtask:
        source["items_per_subtask"] = args.items_per_subtask
    spec = {"job_id": args.job_id or uuid.uuid4().hex, "source": source}
    optional = {
        "workload": args.workload,
        "tolerated_failure_count": args.tolerated_failure_count,
        "tolerated_failure_percentage": args.tolerated_failure_percentage,
        "max_concurrency": args.max_concurrency,
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
    return _outcome(job["status"])


def _jobs_client(stack: dict) -> JobsClient:
    return JobsClient.of_stack(stack, boto3.client("lambda", config=SUBMIT_CONFIG))


def _print_state(state: JobState) -> None:
    shown = {"job_id": state.job_id, "status": state.status, "total": state.total, "counts": state.counts}
    extra = {"retrying": state.retrying, "stop": state.stop}
    print(json.dumps({**shown, **{name: value for name, value in extra.items() if value}}))


def _through_api(args: argparse.Namespace, parser: argparse.ArgumentParser, stack: dict) -> int:
    """submit, status, cancel and set-concurrency through the job API (--api) instead of the ventilator and the
    tracker."""
    jobs = _jobs_client(stack)
    if args.command == "set-concurrency":  # a refusal is a JobApiError: main prints it in one line
        print(json.dumps(jobs.set_concurrency(args.job_id, args.max_concurrency)))
        return 0
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
            sys.exit(f"{_unknown(args.job_id)} (a job submitted through the API appears once it is planned)")
        if not args.watch:
            _print_state(state)
            return 0
    done = jobs.wait(state.job_id, args.timeout, on_progress=_print_state)
    for failure in done.failures:
        print(failure_line(failure))
    return _outcome(done.status)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except (ClientError, BotoCoreError, RedriveError, TransferError, LookupError, TimeoutError, RuntimeError) as error:
        # JobApiError (a RuntimeError) names the field and the fix the job API gave.
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as error:  # a local file or folder: --spec, --to, --output
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR


def _main(argv: list[str] | None) -> int:
    parser = _OneLineParser(
        prog=PROG,
        description=__doc__.splitlines()[0],
        epilog=__doc__[__doc__.index("Exit codes:") :],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--outputs",
        metavar="FILE",
        type=_local_path,
        help=f"`terraform output -json` of the stack (default: ${OUTPUTS_ENV}, else {DEFAULT_OUTPUTS})",
    )
    parser.add_argument(
        "--api",
        action="store_true",
        help="submit, status, cancel and set-concurrency through the stack's job API (fan_out_api)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    uploading = commands.add_parser(
        "upload", help="upload a file (or a folder, as an `objects` prefix) and print the job spec's source for it"
    )
    uploading.add_argument("path", metavar="PATH", type=_local_path, help="a file or a folder")
    uploading.add_argument(
        "--type", choices=FILE_SOURCE_TYPES, help="how a job reads the file (default: .jsonl, .csv by suffix; lines)"
    )
    submit = commands.add_parser("submit", help="upload a file or folder and start a job over it, or submit a spec")
    submit.add_argument("file", metavar="FILE", type=_local_path, nargs="?", help="a file, or a folder (objects)")
    submit.add_argument("--spec", type=Path, help="a JSON job spec to submit as it is (no upload)")
    submit.add_argument(
        "--type", choices=FILE_SOURCE_TYPES, help="how to cut FILE (default: .jsonl, .csv by suffix; else lines)"
    )
    cut = submit.add_mutually_exclusive_group()
    cut.add_argument("--chunk-size", type=_positive(int), help="bytes per subtask (default: the stack's)")
    cut.add_argument("--items-per-subtask", type=_positive(int), help="records per subtask (jsonl, csv)")
    submit.add_argument("--workload", help="the deployed workload to run (default: the stack's default_workload)")
    submit.add_argument("--tolerated-failure-count", type=int, help="end the job FAILED past this many failures")
    submit.add_argument("--tolerated-failure-percentage", type=float, help="... or past this share of subtasks")
    submit.add_argument("--max-concurrency", type=_positive(int), help="at most this many subtasks in flight at once")
    submit.add_argument("--job-id")
    submit.add_argument("--no-wait", action="store_true", help="return once the job is dispatched")
    submit.add_argument("--timeout", type=_positive(float), default=1800)
    status = commands.add_parser("status", help="show a job's progress")
    status.add_argument("job_id", metavar="JOB", type=_job_id)
    status.add_argument("--watch", action="store_true", help="follow it until it finishes")
    status.add_argument("--timeout", type=_positive(float), default=1800)
    result = commands.add_parser("result", help="print a finished job's consolidated result")
    result.add_argument("job_id", metavar="JOB", type=_job_id)
    downloading = commands.add_parser(
        "download", help="write a finished job's manifest, succeeded/failed records and result into a folder"
    )
    downloading.add_argument("job_id", metavar="JOB", type=_job_id)
    downloading.add_argument("--to", type=_local_path, help="the folder (default: results/JOB)")
    cancel = commands.add_parser("cancel", help="cancel a running job: what is not running yet is skipped")
    cancel.add_argument("job_id", metavar="JOB", type=_job_id)
    concurrency = commands.add_parser(
        "set-concurrency", help="change a running job's max_concurrency: more lanes at once, fewer as blocks end"
    )
    concurrency.add_argument("job_id", metavar="JOB", type=_job_id)
    concurrency.add_argument("max_concurrency", metavar="N", type=_positive(int))
    redrive_job = commands.add_parser("redrive-job", help="run the failed and skipped subtasks of a job again")
    redrive_job.add_argument("job_id", metavar="JOB", type=_job_id)
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
    run_local = local_cli.add_parser(commands, _positive)
    args = parser.parse_args(argv)

    if args.command == "run-local":  # no stack: the job runs in this process
        return local_cli.run(run_local, args, _outcome)

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

    _check_local_paths({"upload": uploading, "submit": submit}, args)
    stack = fan_out_stack(args.outputs)
    if args.command == "upload":
        source = upload(boto3.client("s3"), stack["bucket_name"], args.path, args.type)
        print(json.dumps(source))
        print(
            f"uploaded {args.path}: use this as the job spec's source (with chunk_size_bytes or items_per_subtask)",
            file=sys.stderr,
        )
        return 0
    if args.api and args.command in {"submit", "status", "cancel", "set-concurrency"}:
        return _through_api(args, parser, stack)
    tracker = JobTracker(boto3.resource("dynamodb").Table(stack["tracker_table_name"]))

    if args.command == "submit":
        spec = _spec(parser, args, stack)
        answer = submit_job(boto3.client("lambda", config=SUBMIT_CONFIG), stack["ventilator_function_name"], spec)
        return _follow(tracker, answer, spec["job_id"], args)

    if args.command == "cancel":
        if tracker.get_job(args.job_id) is None:
            sys.exit(_unknown(args.job_id))
        if tracker.request_stop(args.job_id, StopReason.CANCELLED) is None:
            sys.exit(f"job {args.job_id} is not running, or is stopping already: `status {args.job_id}` shows it")
        print(f"job {args.job_id}: cancel requested; running subtasks finish, the others are skipped")
        return 0

    if args.command == "set-concurrency":
        answer = submit_job(
            boto3.client("lambda", config=SUBMIT_CONFIG),
            stack["ventilator_function_name"],
            {"concurrency": {"job_id": args.job_id, "max_concurrency": args.max_concurrency}},
        )
        print(json.dumps(answer))
        if "error" in answer:
            error = answer["error"]
            sys.exit(f"{error['field']}: {error['message']}; {error['fix']}")
        return 0

    if args.command == "redrive-job":
        if tracker.get_job(args.job_id) is None:
            sys.exit(_unknown(args.job_id))
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
                sys.exit(_unknown(args.job_id))
            print(render_progress(progress))
            job = progress.job
        print("\n".join(describe_job(job)))
        return _outcome(job["status"]) if args.watch else 0

    if args.command in {"result", "download"}:
        job = tracker.get_job(args.job_id)
        if job is None:
            sys.exit(_unknown(args.job_id))
        if not is_final(job):
            sys.exit(
                f"error: job {args.job_id} has no result yet: it is {job['status']} "
                f"(`status {args.job_id} --watch` follows it to its end)"
            )
        if "key" not in job.get("result", {}):
            sys.exit(
                "\n".join([f"error: job {args.job_id} ended {job['status']} without a result:", *describe_job(job)])
            )
        if args.command == "result":
            print(json.dumps(fetch_result(boto3.client("s3"), job), indent=2))
            return 0
        folder = args.to or Path("results") / args.job_id
        written = download_results(boto3.client("s3"), job["result"]["bucket"], job["result"]["key"], folder)
        print(f"job {args.job_id} ({job['status']}): {len(written)} files in {folder}")
        for path in written:
            print(f"  {path.relative_to(folder).as_posix()}")
        return 0

    statuses = [JobStatus(args.status)] if args.status else list(JobStatus)
    for job_status in statuses:
        for job in tracker.jobs_in_status(job_status, STATUS_INDEX):
            print(f"{job['job_id']}  {job['status']:<10} total={job.get('total', 0):<8} created={job['created_at']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
