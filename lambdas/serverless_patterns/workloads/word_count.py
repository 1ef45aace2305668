"""Reference workload: count the words of a UTF-8 text, chunk by chunk.

process is the per-subtask function (a chunk of whole lines in, a JSON-able
dict out);
merge_counts is the consolidator's merge, which also merges its own results
(the consolidator merges shard by shard, then the shards). A chunk that is not
UTF-8 fails its subtask at once (UnicodeDecodeError: no retry can fix it), and
the job ends PARTIAL with the reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from serverless_patterns.inputs import SubtaskInput


def count_words(chunk: bytes) -> dict[str, Any]:
    text = chunk.decode("utf-8")  # strict: undecodable input fails the subtask
    words = Counter(word.lower() for word in text.split())
    return {"lines": text.count("\n"), "words": dict(words)}


def process(task: SubtaskInput) -> dict[str, Any]:
    return count_words(task.data)


def merge_counts(partials: Iterable[dict[str, Any]]) -> dict[str, Any]:
    words: Counter[str] = Counter()
    lines = 0
    for partial in partials:
        words.update(partial["words"])
        lines += partial["lines"]
    return {"lines": lines, "distinct_words": len(words), "words": dict(sorted(words.items()))}
