"""Map a function over a stream with a few calls in flight and a bounded read-ahead."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


def bounded_map(function: Callable[[In], Out], items: Iterable[In], workers: int, window: int) -> Iterator[Out]:
    """Results in input order; at most `window` of them exist at once, however long the stream.

    ThreadPoolExecutor.map submits the whole input up front, so its memory
    grows with the input: this keeps it flat, which is what lets a merge over
    100,000 partial results run in the memory of a few.
    """
    window = max(window, workers, 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[Out]] = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
