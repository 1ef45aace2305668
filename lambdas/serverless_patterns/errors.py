"""Errors about input that can never be processed as it is: they name the field, or the cause, and the fix."""

from __future__ import annotations

MAX_ERROR_MESSAGE_CHARS = 500


class FieldError(ValueError):
    def __init__(self, field: str, message: str, fix: str) -> None:
        super().__init__(f"{field}: {message} ({fix})")
        self.field = field
        self.message = message
        self.fix = fix

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "fix": self.fix}


class PermanentSubtaskError(ValueError):
    """A subtask whose input the processor can never handle: it fails at once, without the remaining retries.

    Raise it (or a subclass) from your own subtask processor for input that
    no retry can fix; any other exception is retried by SQS.
    """


class WorkloadUnavailable(PermanentSubtaskError):
    """A workload this deployment cannot run: its code is not in the zip, fails to import, or lacks its function.

    A deployment fault, not a fault of one subtask's input: every subtask of
    the job would fail the same way, so the worker fails the subtask at once
    and stops the job (it ends FAILED with this reason) instead of retrying.
    """


# Also never fixed by a retry: bytes that are not text in the expected encoding.
DETERMINISTIC_ERRORS: tuple[type[BaseException], ...] = (PermanentSubtaskError, UnicodeError)


def describe(error: BaseException) -> dict[str, str]:
    """An exception as a record: its type and its message, bounded in size."""
    message = str(error)
    if len(message) > MAX_ERROR_MESSAGE_CHARS:
        message = message[: MAX_ERROR_MESSAGE_CHARS - 1] + "…"
    return {"type": type(error).__name__, "message": message}
