"""Errors about input that can never be processed as it is: they name the field and the fix."""

from __future__ import annotations


class FieldError(ValueError):
    def __init__(self, field: str, message: str, fix: str) -> None:
        super().__init__(f"{field}: {message} ({fix})")
        self.field = field
        self.message = message
        self.fix = fix

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "fix": self.fix}
