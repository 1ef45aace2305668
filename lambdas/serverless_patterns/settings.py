"""Typed access to the environment variables the functions are configured with."""

from __future__ import annotations

import os


class SettingError(RuntimeError):
    pass


def required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SettingError(
            f"environment variable {name} is not set: the Terraform module sets it; "
            f"set it yourself when running the handler outside Lambda"
        )
    return value


def positive_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"environment variable {name}={raw!r} is not a number") from None
    if value <= 0:
        raise SettingError(f"environment variable {name}={raw!r} must be greater than 0")
    return value


def non_negative_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"environment variable {name}={raw!r} is not a whole number") from None
    if value < 0:
        raise SettingError(f"environment variable {name}={raw!r} must be 0 or more")
    return value
