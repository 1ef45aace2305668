"""The model against the emulator: the measured end-to-end times of the word-count job, and the model's, with the
emulator preset (every constant a measured input or a setting of envs/local)."""

from __future__ import annotations

from dataclasses import dataclass

from bench.scale_model import platforms
from bench.scale_model.calibration import Calibration
from bench.scale_model.job_shape import JobShape
from bench.scale_model.pipeline import simulate

GOAL_PCT = 25.0  # the goal: the model within 25% of the measured time


@dataclass(frozen=True)
class ValidationRow:
    subtasks: int
    measured_s: float
    modelled_s: float
    error_pct: float  # (modelled - measured) / measured
    configuration: str
    note: str

    @property
    def within_goal(self) -> bool:
        return abs(self.error_pct) <= GOAL_PCT


def validate(calibration: Calibration, measured: dict[int, float]) -> list[ValidationRow]:
    """A row per measured size: the end-to-end job on envs/local as the README deploys it, and the model of it."""
    platform = platforms.emulator(calibration)
    rows = []
    for subtasks, measured_s in sorted(measured.items()):
        prediction = simulate(JobShape(subtasks=subtasks), platform)
        error = (prediction.time_to_result_s - measured_s) / measured_s * 100
        held_back = prediction.notes[0].removeprefix("held back by (share of the run): ")
        note = f"bound by {prediction.bounding_stage}; held back by {held_back}"
        if abs(error) > GOAL_PCT:
            note = f"MISSED the {GOAL_PCT:g}% goal: " + note
        rows.append(
            ValidationRow(
                subtasks=subtasks,
                measured_s=measured_s,
                modelled_s=prediction.time_to_result_s,
                error_pct=error,
                configuration=_configuration(prediction.notes[1]),
                note=note,
            )
        )
    return rows


def _configuration(layout: str) -> str:
    return (
        f"envs/local: {platforms.LOCAL_WORKER_MAXIMUM_CONCURRENCY} workers (batches of 10, 10 threads), "
        f"default window {platforms.LOCAL_DEFAULT_WINDOW}; {layout}; word count of 256-byte chunks"
    )
