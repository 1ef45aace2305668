"""The two systems the model runs a job on, built from a Calibration: the emulator as measured, and AWS.

Every constant here is a measured input (the Calibration), a documented AWS quota (aws.py) or a setting of the
deployed stack (envs/local, the modules' defaults); the one assumption is AWS's round trip per call, 10 ms in
region, as benchmarks 1, 1b, 8 and 8c use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.scale_model import aws as quotas
from bench.scale_model.calibration import Calibration

AWS_ROUND_TRIP_S = 0.010  # in-region round trip per AWS call: an assumption, the benchmarks' (8b, 8c)
FULL_VCPU_MB = 1_769  # Lambda gives a function one full vCPU at 1,769 MB, CPU in proportion to memory
MEMORY_MB = {"ventilator": 1_769, "worker": 512, "consolidator": 1_024}  # the modules' defaults (envs/prod keeps them)
CPU_SCALE_HERE_TO_LAMBDA = 1.0  # a vCPU at 1,769 MB taken as one core of this machine: not verified

# envs/local/terraform.tfvars (the stack as the README deploys it) and the fan_out module's derivations.
LOCAL_WORKER_MAXIMUM_CONCURRENCY = 8
LOCAL_DEFAULT_WINDOW = 16
LOCAL_SUBTASKS_PER_SHARD = 250
LOCAL_PARALLEL_SHARDS = 2  # ceil(worker_maximum_concurrency / 5), the module's default
EMULATOR_CORES = 2


@dataclass
class Platform:
    """How long each step of the job takes on one system, and which quotas hold it back."""

    name: str
    calibration: Calibration
    round_trip_s: float  # per AWS call, on top of a shared server's service time (0 on the emulator)
    shared_server: bool  # every call answered in turn by one server (the emulator)
    shared_cores: int | None  # CPU of every function shared by this many cores; None: each has its own (Lambda)
    invoke_start_s: float  # a warm invocation's start by the event source mapping, beside the server's share below
    direct_invoke_s: float  # a warm invocation's start by Invoke (the ventilator, the consolidator)
    invoke_server_s: float  # the shared server's own time for an invocation (the emulator)
    cold_start_s: float  # more for a new execution environment (CPU of the shared cores on the emulator)
    esm: quotas.EsmScaling
    lambda_scaling_per_window: int | None
    account_concurrency: int | None
    partition_wcu_per_s: float | None  # None: not enforced (the emulator)
    s3_get_per_prefix_s: float | None
    s3_put_per_prefix_s: float | None
    subtasks_per_shard: int = 1_000
    parallel_shards: int = 200
    default_window: int | None = None  # a job's max_concurrency when it sets none; None: dispatched whole
    memory_mb: dict[str, int] = field(default_factory=lambda: dict(MEMORY_MB))
    cpu_scale: float = 1.0  # seconds of CPU here -> seconds of CPU there, at a full vCPU
    warm: dict[str, int] = field(default_factory=dict)  # environments already started when the job is submitted
    notes: list[str] = field(default_factory=list)

    def service(self, operation: str) -> float:
        """The server's own time for one call (the caller's CPU for it is charged to the caller)."""
        cal = self.calibration
        return max(0.0, cal.service_s[operation] - cal.client_cpu_s_per_call)

    def cpu_seconds(self, function: str, seconds_here: float) -> float:
        """CPU work measured here, as long as it takes in `function` (Lambda: CPU in proportion to memory)."""
        if self.shared_cores is not None:
            return seconds_here
        share = min(1.0, self.memory_mb[function] / FULL_VCPU_MB)
        return seconds_here * self.cpu_scale / share


def emulator(calibration: Calibration) -> Platform:
    """MiniStack as measured: one server answering one request at a time (it also runs every event source
    mapping's receive, scanning the queue), each invocation a local process, the functions' CPU on the core the
    server leaves free, the local stack's 8 workers at once (MiniStack gives a mapping its maximum_concurrency at
    once and polls again as soon as a batch ends: lambda_svc._poll_loop)."""
    return Platform(
        name="emulator (MiniStack, envs/local)",
        calibration=calibration,
        round_trip_s=0.0,
        shared_server=True,
        shared_cores=EMULATOR_CORES - 1,
        invoke_start_s=_emulator_invoke_delay(calibration),
        direct_invoke_s=calibration.sync_invoke_s,
        invoke_server_s=calibration.invoke_server_cpu_s,
        # MiniStack spawns a process for each new environment, which imports the handler.
        cold_start_s=calibration.spawn_s + calibration.handler_import_s,
        esm=quotas.EsmScaling(maximum_concurrency=LOCAL_WORKER_MAXIMUM_CONCURRENCY, per_minute=None),
        lambda_scaling_per_window=None,
        account_concurrency=None,
        partition_wcu_per_s=None,
        s3_get_per_prefix_s=None,
        s3_put_per_prefix_s=None,
        subtasks_per_shard=LOCAL_SUBTASKS_PER_SHARD,
        parallel_shards=LOCAL_PARALLEL_SHARDS,
        default_window=LOCAL_DEFAULT_WINDOW,
        # calibration.measured_end_to_end runs a job first: every worker, the ventilator and a round of
        # consolidators are started when the measured jobs are submitted.
        warm={"worker": LOCAL_WORKER_MAXIMUM_CONCURRENCY, "ventilator": 1, "consolidator": LOCAL_PARALLEL_SHARDS + 1},
        notes=[
            "one server for every call, the functions' CPU on the other core; every invocation a warm one as "
            "measured (MiniStack keeps its processes warm): the server's CPU for it, then its measured delay",
        ],
    )


def _emulator_invoke_delay(calibration: Calibration) -> float:
    """A mapping's invocation measured from send to delete, less the calls in it and the server's CPU for it: the
    time the invocation waits beside the server (its process, the pipes)."""
    calls = sum(calibration.service_s[op] for op in ("SendMessageBatch", "ReceiveMessage", "DeleteMessageBatch"))
    return max(0.0, calibration.invoke_start_s - calls - calibration.invoke_server_cpu_s)


def aws(
    calibration: Calibration,
    account_concurrency: int = 1_000,
    worker_maximum_concurrency: int | None = None,
    parallel_shards: int = 200,
    subtasks_per_shard: int = 1_000,
    default_window: int | None = None,
    round_trip_s: float = AWS_ROUND_TRIP_S,
) -> Platform:
    """AWS at its documented quotas, each call a round trip of `round_trip_s`, the CPU costs measured here."""
    return Platform(
        name="AWS",
        calibration=calibration,
        round_trip_s=round_trip_s,
        shared_server=False,
        shared_cores=None,
        invoke_start_s=round_trip_s,
        direct_invoke_s=round_trip_s,
        invoke_server_s=0.0,
        # A new environment: the runtime's start (not measured here) and the handler's import, measured from its zip.
        cold_start_s=calibration.handler_import_s,
        esm=quotas.EsmScaling(maximum_concurrency=worker_maximum_concurrency),
        lambda_scaling_per_window=quotas.LAMBDA_SCALING_ENVIRONMENTS,
        account_concurrency=account_concurrency,
        partition_wcu_per_s=quotas.PARTITION_WCU_PER_S,
        s3_get_per_prefix_s=quotas.S3_GET_PER_PREFIX_S,
        s3_put_per_prefix_s=quotas.S3_PUT_PER_PREFIX_S,
        subtasks_per_shard=subtasks_per_shard,
        parallel_shards=parallel_shards,
        default_window=default_window,
        cpu_scale=CPU_SCALE_HERE_TO_LAMBDA,
        notes=[
            f"{round_trip_s * 1000:g} ms per AWS call (in-region round trip, the benchmarks' assumption); "
            "a vCPU at 1,769 MB taken as one core of this machine (not verified)",
        ],
    )
