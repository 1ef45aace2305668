"""Load a user-supplied function named "package.module:function"."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

MAX_CAUSE_CHARS = 200  # an import error's own message (a SyntaxError names a path): enough to act on
# What a module's import may raise once and not again; anything else (a missing module or dependency, a
# syntax error, its own code failing) fails the same way on every attempt. ModuleNotFoundError is an
# ImportError, not an OSError, and stays on that side.
TRANSIENT_IMPORT_ERRORS: tuple[type[BaseException], ...] = (OSError, MemoryError)


class UnloadableFunction(ValueError):
    """A reference that names no function this process can call: malformed, not importable, or missing."""


def load_function(reference: str, setting: str) -> Callable[..., Any]:
    module_name, _, function_name = reference.partition(":")
    if not module_name or not function_name:
        raise UnloadableFunction(f"{setting}={reference!r} must look like 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except TRANSIENT_IMPORT_ERRORS:
        raise  # the module's import reached out (a file, the network, memory) and may pass next time: retried
    except (Exception, SystemExit) as error:
        # Whatever the module raised while it was imported (a missing dependency, a syntax error, its own code).
        cause = f"{type(error).__name__}: {error}"
        if len(cause) > MAX_CAUSE_CHARS:
            cause = cause[: MAX_CAUSE_CHARS - 1] + "…"
        raise UnloadableFunction(f"{setting}={reference!r}: cannot import {module_name} ({cause})") from error
    function = getattr(module, function_name, None)
    if not callable(function):
        missing = "has no function" if function is None else "has a non-callable"
        raise UnloadableFunction(f"{setting}={reference!r}: {module_name} {missing} {function_name}")
    return function
