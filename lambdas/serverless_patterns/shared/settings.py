"""Typed access to the environment variables the functions are configured with."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T", int, float)


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
    value = _number(name, default, float, "a number")
    if value <= 0:
        raise SettingError(f"environment variable {name}={os.environ[name].strip()!r} must be greater than 0")
    return value


def non_negative_int(name: str, default: int) -> int:
    value = _number(name, default, int, "a whole number")
    if value < 0:
        raise SettingError(f"environment variable {name}={os.environ[name].strip()!r} must be 0 or more")
    return value


def _number(name: str, default: T, parse: Callable[[str], T], kind: str) -> T:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise SettingError(f"environment variable {name}={raw!r} is not {kind}") from None
