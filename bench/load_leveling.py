"""4. Load leveling: a burst of 5,000 requests against a downstream capped at N writes/s."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import boto3

from bench.common import RESULTS_DIR, Table

REQUESTS = 5_000
CLIENTS = 16
NAIVE_WRITES = 2_000


def _sample_depth(sqs, queue_url: str, samples: list, stop: threading.Event, started: float) -> None:
    while not stop.is_set():
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        depth = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        samples.append((time.monotonic() - started, depth))
        stop.wait(0.5)


def _writes_per_second(timestamps: list[datetime], origin: datetime) -> dict[int, int]:
    return dict(Counter(int((stamp - origin).total_seconds()) for stamp in timestamps))


def _naive_peak_writes(table) -> float:
    """The baseline: the same clients writing straight to the table, as a producer without a queue would."""
    run_id = f"naive-{uuid.uuid4().hex[:6]}"
    stamps: list[float] = []
    lock = threading.Lock()

    def write(index: int) -> None:
        table.put_item(Item={"request_id": f"{run_id}-{index:06d}", "payload": {"index": index}})
        with lock:
            stamps.append(time.monotonic())

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        list(pool.map(write, range(NAIVE_WRITES)))
    return max(Counter(int(stamp) for stamp in stamps).values())


def _plot(samples: list, rates: dict[int, int], capacity: float, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, depth_axis = plt.subplots(figsize=(9, 4.8))
    depth_axis.plot([t for t, _ in samples], [d for _, d in samples], color="tab:blue", label="queue depth")
    depth_axis.set_xlabel("seconds since the burst began")
    depth_axis.set_ylabel("queue depth (messages)", color="tab:blue")
    rate_axis = depth_axis.twinx()
    seconds = sorted(rates)
    rate_axis.step(seconds, [rates[s] for s in seconds], where="post", color="tab:orange", label="downstream writes/s")
    rate_axis.axhline(capacity, color="tab:red", linestyle="--", label=f"capacity, {capacity:g} writes/s")
    rate_axis.set_ylabel("writes per second", color="tab:orange")
    rate_axis.set_ylim(0, max(capacity, *rates.values()) * 1.4)
    lines = depth_axis.get_legend_handles_labels()
    more = rate_axis.get_legend_handles_labels()
    depth_axis.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize="small")
    depth_axis.set_title(f"{REQUESTS:,} requests in a burst, drained at the downstream's pace")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run(stack: dict, capacity: float) -> Table:
    from serverless_patterns_ops.http_api import producer_client
    from serverless_patterns_ops.load_leveling import peak_concurrency, scan_items, send_burst, wait_for

    sqs = boto3.client("sqs")
    table = boto3.resource("dynamodb").Table(stack["table_name"])
    run_id = uuid.uuid4().hex[:8]
    samples: list = []
    stop = threading.Event()
    started_wall, started = datetime.now().astimezone(), time.monotonic()
    sampler = threading.Thread(
        target=_sample_depth, args=(sqs, stack["queue_url"], samples, stop, started), daemon=True
    )
    sampler.start()
    burst = send_burst(producer_client(stack, boto3.client("lambda")), REQUESTS, CLIENTS, run_id=run_id)

    def stored() -> list[dict]:
        return [item for item in scan_items(table) if item["request_id"].startswith(run_id)]

    wait_for(lambda: len(stored()) >= len(burst.accepted), timeout=900, interval=3)
    drained = time.monotonic() - started
    stop.set()
    sampler.join()
    items = stored()
    stamps = [datetime.fromisoformat(item["stored_at"]) for item in items]
    rates = _writes_per_second(stamps, started_wall)
    peak_rate = max(rates.values())
    lost = len(set(burst.accepted) - {item["request_id"] for item in items})
    naive_peak = _naive_peak_writes(table)
    _plot(samples, rates, capacity, RESULTS_DIR / "load_leveling.png")

    result = Table(
        "load_leveling",
        f"4. Load leveling: {REQUESTS:,} requests from {CLIENTS} clients, downstream capacity {capacity:g} writes/s",
        [
            "measure",
            "load leveler",
            "baseline: writing straight to the table",
            "ratio to capacity (leveler / baseline)",
        ],
    )
    result.rows += [
        ["accepted (202)", f"{len(burst.accepted):,} in {burst.seconds:.1f} s", "-", "-"],
        ["time to drain", f"{drained:.0f} s", "-", "-"],
        ["peak queue depth", f"{max(d for _, d in samples):,}", "-", "-"],
        ["peak consumer concurrency", f"{peak_concurrency(items)} (cap {stack['maximum_concurrency']})", "-", "-"],
        [
            "peak writes per second",
            f"{peak_rate}",
            f"{naive_peak}",
            f"{peak_rate / capacity:.2f} / {naive_peak / capacity:.2f}",
        ],
        [
            "writes over capacity (would be throttled)",
            f"{sum(max(0, r - capacity) for r in rates.values()):g}",
            "-",
            "-",
        ],
        ["lost", f"{lost}", "-", "-"],
    ]
    result.notes += [
        "The emulator does not enforce provisioned throughput, so throttling is shown as the writes that went "
        "over capacity in any second (target 0) rather than as errors.",
        "Plot: [load_leveling.png](load_leveling.png), queue depth and downstream writes per second over time.",
    ]
    return result
