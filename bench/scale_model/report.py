"""docs/scale.md and docs/scale.png from the model's calibration, validation and predictions.

Everything here renders what it is given: the numbers come from bench/scale.py (the calibration measured or
loaded, the validation rows, the Predictions of this project and of Distributed Map). matplotlib is imported
only inside `plot`, so the unit tests render the page without it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench.scale_model.prediction import BILLABLE, Prediction
from bench.scale_model.prices import LINE_ITEMS, SOURCES, UNIT_PRICES, UNITS, cost, total

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = REPO_ROOT / "docs" / "scale.md"
PLOT = REPO_ROOT / "docs" / "scale.png"

GOAL_SUBTASKS = 1_000_000
GOAL_DISPATCH_S = 60.0
GOAL_RESULT_S = 180.0
GOAL_COST_SHARE = 0.1  # at most a tenth of Distributed Map's cost per job
VALIDATION_GOAL_PCT = 25.0


class ValidationLike(Protocol):
    """What the page reads of bench.scale_model.validation's ValidationRow."""

    subtasks: int
    measured_s: float
    modelled_s: float
    error_pct: float
    configuration: str
    note: str


@dataclass(frozen=True)
class Goal:
    text: str
    met: bool
    evidence: str

    def line(self) -> str:
        return f"- **{'met' if self.met else 'missed'}**: {self.text} ({self.evidence})"


# The stages (pipeline.Observer's names) that are AWS quotas or documented rates; the others (the dispatch, the
# workers, the reductions, a job's own window) are the pipeline's own pace.
AWS_QUOTA_STAGES = (
    "shard partitions",
    "S3 GETs",
    "S3 PUTs",
    "account concurrency",
    "event source mapping",
    "Lambda's scaling",
)


def goals(
    ours: Mapping[int, Prediction],
    theirs: Mapping[int, Prediction],
    account_concurrency: int,
    batched_cost: float | None = None,
) -> list[Goal]:
    """The issue's goals for a 1,000,000-subtask job, each judged from the predictions; `batched_cost`: Distributed
    Map's with ItemBatcher, shown beside the goal's comparison (which is with one child per item)."""
    mine, managed = ours[GOAL_SUBTASKS], theirs[GOAL_SUBTASKS]
    share = total(mine.calls) / total(managed.calls)
    quota_bound = mine.bounding_stage.startswith(AWS_QUOTA_STAGES)
    return [
        Goal("1,000,000 subtasks bound by AWS quotas, not one function's CPU", quota_bound, mine.bounding_stage),
        Goal(
            f"under {GOAL_DISPATCH_S:.0f} s to full dispatch",
            mine.time_to_full_dispatch_s < GOAL_DISPATCH_S,
            f"{mine.time_to_full_dispatch_s:,.1f} s",
        ),
        Goal(
            f"under {GOAL_RESULT_S / 60:.0f} minutes to result at the default account concurrency "
            f"({account_concurrency:,})",
            mine.time_to_result_s < GOAL_RESULT_S,
            f"{mine.time_to_result_s:,.1f} s",
        ),
        Goal(
            "at most a tenth of Distributed Map's cost per job",
            share <= GOAL_COST_SHARE,
            f"${total(mine.calls):,.2f} against ${total(managed.calls):,.2f}: {share:.2f}x"
            + (
                f"; against Distributed Map with ItemBatcher at 10 items per child, ${batched_cost:,.2f}: "
                f"{total(mine.calls) / batched_cost:.2f}x"
                if batched_cost
                else ""
            ),
        ),
    ]


def _seconds(value: float) -> str:
    return f"{value:,.1f} s" if value < 100 else f"{value:,.0f} s"


def _dollars(value: float) -> str:
    # Cents for most line items; two significant digits for the tiny ones (a few S3 PUTs), so none shows as $0.00.
    if value >= 0.01 or value <= 0:
        return f"${value:,.2f}"
    return f"${value:.{1 - math.floor(math.log10(value))}f}"


def _table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def calibration_table(inputs: Sequence[tuple[str, str, str]]) -> list[str]:
    return _table(["input", "value", "how measured"], inputs)


def validation_table(rows: Sequence[ValidationLike]) -> list[str]:
    body = [
        [
            f"{row.subtasks:,}",
            row.configuration,
            _seconds(row.measured_s),
            _seconds(row.modelled_s),
            f"{row.error_pct:+.1f}%",
            "yes" if abs(row.error_pct) <= VALIDATION_GOAL_PCT else "no",
            row.note,
        ]
        for row in rows
    ]
    columns = ["subtasks", "configuration", "measured", "modelled", "error", f"within {VALIDATION_GOAL_PCT:.0f}%"]
    return _table([*columns, "note"], body)


def predictions_table(ours: Mapping[int, Prediction], theirs: Mapping[int, Prediction]) -> list[str]:
    """This project and Distributed Map side by side, one row per job size and system."""
    rows = []
    for subtasks in sorted(ours):
        for prediction in (ours[subtasks], theirs[subtasks]):
            rows.append(
                [
                    f"{subtasks:,}",
                    prediction.system,
                    _seconds(prediction.time_to_full_dispatch_s),
                    _seconds(prediction.time_to_result_s),
                    f"{prediction.peak_concurrency:,}",
                    prediction.bounding_stage,
                    _dollars(total(prediction.calls)),
                ]
            )
    columns = ["subtasks", "system", "full dispatch", "result", "peak concurrency", "bound by", "cost per job"]
    return _table(columns, rows)


def line_items_table(predictions: Sequence[Prediction]) -> list[str]:
    """The cost per job of each prediction, line by line (quantity: dollars)."""
    costs = [cost(prediction.calls) for prediction in predictions]
    rows = []
    for name in BILLABLE:
        if not any(prediction.calls.get(name) for prediction in predictions):
            continue
        cells = [
            f"{prediction.calls[name]:,.0f}: {_dollars(dollars[name])}" if prediction.calls.get(name) else "—"
            for prediction, dollars in zip(predictions, costs, strict=True)
        ]
        rows.append([LINE_ITEMS[name], *cells])
    rows.append(["**Total**", *(f"**{_dollars(sum(dollars.values()))}**" for dollars in costs)])
    columns = ["line item", *(f"{p.system}, {p.subtasks:,}" for p in predictions)]
    return _table(columns, rows)


def prices_table() -> list[str]:
    """The unit prices used and where each was read."""
    rows = [
        [LINE_ITEMS[name], f"${UNIT_PRICES[name] * 1e6:,.4g} per million {UNITS[name]}", SOURCES[name]]
        for name in BILLABLE
    ]
    return ["Prices: us-east-1, on demand, x86, no free tiers.", "", *_table(["line item", "price", "source"], rows)]


def render(
    *,
    model_text: str,
    calibration_inputs: Sequence[tuple[str, str, str]],
    validation: Sequence[ValidationLike],
    ours: Mapping[int, Prediction],
    theirs: Mapping[int, Prediction],
    account_concurrency: int,
    machine: Mapping[str, str],
    notes: Sequence[str] = (),
    calibration_notes: Sequence[str] = (),
    spread: tuple[Mapping[int, Prediction], Mapping[int, Prediction], int] | None = None,
    batched_cost: float | None = None,
) -> str:
    """The whole page. `model_text` is the markdown of how the model works and what it leaves out; `spread` the
    same predictions with the input read from several S3 prefixes (ours, theirs, how many)."""
    largest = [ours[GOAL_SUBTASKS], theirs[GOAL_SUBTASKS]]
    lines = [
        "# A million subtasks: the pipeline modelled at AWS scale",
        "",
        "Generated by `make bench`; do not edit: run it again (`SCALE_FROM_SAVED=1 make bench BENCH=scale` "
        "re-runs the model from the saved calibration, without the emulator, in a minute or two).",
        "",
        "## Goals for a 1,000,000-subtask job",
        "",
        *(["With the input as one object (its chunks are byte ranges of it: one S3 prefix):", ""] if spread else []),
        *(goal.line() for goal in goals(ours, theirs, account_concurrency, batched_cost)),
        "",
        *(
            [
                f"With the input under {spread[2]} S3 prefixes (objects spread over them, or {spread[2]} objects "
                "each under its own):",
                "",
                *(goal.line() for goal in goals(spread[0], spread[1], account_concurrency, batched_cost)),
                "",
            ]
            if spread
            else []
        ),
        "## Predictions on AWS",
        "",
        f"At the default account concurrency ({account_concurrency:,}), us-east-1 prices. Distributed Map's row is "
        "one Express child per item, the child one Lambda task doing the work of one subtask.",
        "",
        *predictions_table(ours, theirs),
        "",
        *(
            [
                f"### The input under {spread[2]} S3 prefixes",
                "",
                f"The same jobs, their chunks read from {spread[2]} prefixes, each taking S3's documented "
                f"5,500 GETs a second: {spread[2] * 5_500:,} in all, for both systems.",
                "",
                *predictions_table(spread[0], spread[1]),
                "",
                *[
                    f"- {p.system}, {p.subtasks:,}, input under {spread[2]} prefixes: {p.notes[0]}"
                    for p in (spread[0][GOAL_SUBTASKS],)
                    if p.notes
                ],
                "",
            ]
            if spread
            else []
        ),
        "![Time to result and cost per job against job size](scale.png)",
        "",
        *[f"- {note}" for note in notes],
        *[f"- {p.system}, {p.subtasks:,}, input as one object: {note}" for p in largest for note in p.notes],
        "",
        f"### Cost of a {GOAL_SUBTASKS:,}-subtask job, line by line",
        "",
        *line_items_table(largest),
        "",
        *prices_table(),
        "",
        "## Validation on the emulator",
        "",
        f"The model configured with the emulator's measured behaviour against the measured end-to-end times "
        f"(goal: within {VALIDATION_GOAL_PCT:.0f}%). Both jobs run windowed (16 lanes) on the emulator's one server: "
        "they check the steps and the calls of a job, not the AWS quotas (the mapping's ramp, Lambda's scaling, "
        "the partitions, S3's rates), which only the predictions run.",
        "",
        *validation_table(validation),
        "",
        "## Calibration inputs",
        "",
        *calibration_table(calibration_inputs),
        "",
        *[f"- {note}" for note in calibration_notes],
        "",
        model_text.strip(),
        "",
        "## Machine",
        "",
        *(f"- {key}: {value}" for key, value in machine.items()),
        "",
    ]
    return "\n".join(lines)


def write(page: str) -> None:
    """docs/scale.md. bench/results/scale.md is the benchmark's own table (its section of docs/benchmarks.md),
    written by bench/__main__ from what bench/scale.py returns."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(page)


def plot(ours: Mapping[int, Prediction], theirs: Mapping[int, Prediction], path: Path | None = None) -> None:
    """Time to result and cost per job against job size, log-log, this project against Distributed Map."""
    path = path or PLOT
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(ours)
    figure, (times, costs) = plt.subplots(1, 2, figsize=(11, 4.2))
    for predictions, marker in ((ours, "o-"), (theirs, "s--")):
        label = predictions[sizes[0]].system
        times.plot(sizes, [predictions[n].time_to_result_s for n in sizes], marker, label=label)
        costs.plot(sizes, [total(predictions[n].calls) for n in sizes], marker, label=label)
    for axis, title, unit in ((times, "Time to result", "seconds"), (costs, "Cost per job", "dollars")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("subtasks per job")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
