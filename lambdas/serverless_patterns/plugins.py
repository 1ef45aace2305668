"""Load a user-supplied function named "package.module:function"."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def load_function(reference: str, setting: str) -> Callable[..., Any]:
    module_name, _, function_name = reference.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"{setting}={reference!r} must look like 'package.module:function'")
    function = getattr(importlib.import_module(module_name), function_name, None)
    if not callable(function):
        raise ValueError(f"{setting}={reference!r}: {module_name} has no function {function_name}")
    return function
