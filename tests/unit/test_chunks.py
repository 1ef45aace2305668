import random

import pytest

from serverless_patterns.fan_out.chunks import LineTooLongError, chunk_range, owned_lines, plan_chunks


def split(data: bytes, chunk_size: int, max_line: int) -> list[bytes]:
    """Every chunk's lines, reading exactly the bytes a worker reads."""
    size = len(data)
    chunks = []
    for subtask in range(plan_chunks(size, chunk_size)):
        start, end = chunk_range(subtask, chunk_size, size)
        buffer_start = max(0, start - 1)
        buffer = data[buffer_start : min(size, end + max_line)]
        chunks.append(owned_lines(buffer, buffer_start, start, end, size))
    return chunks


@pytest.mark.parametrize("seed", range(40))
def test_every_line_lands_in_exactly_one_chunk(seed):
    rng = random.Random(seed)
    lines = [b"w" * rng.randint(0, 40) + b"\n" for _ in range(rng.randint(1, 60))]
    if rng.random() < 0.5:
        lines[-1] = lines[-1].rstrip(b"\n")  # no newline at the end of the object
    data = b"".join(lines)
    if not data:
        return
    chunk_size = rng.randint(1, 50)

    chunks = split(data, chunk_size, max_line=64)

    assert b"".join(chunks) == data
    non_empty = [chunk for chunk in chunks if chunk]
    assert all(chunk.endswith(b"\n") for chunk in non_empty[:-1])  # chunks hold whole lines


def test_a_line_longer_than_the_read_ahead_fails_the_chunk_that_owns_it():
    data = b"short\n" + b"x" * 500 + b"\nend\n"

    with pytest.raises(LineTooLongError, match="max_line_bytes"):
        split(data, chunk_size=10, max_line=100)


def test_chunk_count_covers_the_object():
    assert plan_chunks(100, 10) == 10
    assert plan_chunks(101, 10) == 11
    assert chunk_range(10, 10, 101) == (100, 101)
