from serverless_patterns_ops.load_leveling import peak_concurrency


def item(invocation: str, started: str, stored: str) -> dict:
    return {
        "processed_by": invocation,
        "invocation_started_at": f"2026-01-01T00:00:{started}+00:00",
        "stored_at": f"2026-01-01T00:00:{stored}+00:00",
    }


def test_overlapping_invocations_count_together():
    items = [item("a", "00", "05"), item("a", "00", "09"), item("b", "03", "04"), item("c", "08", "12")]

    assert peak_concurrency(items) == 2


def test_back_to_back_invocations_do_not_overlap():
    items = [item("a", "00", "05"), item("b", "05", "07"), item("c", "07", "09")]

    assert peak_concurrency(items) == 1


def test_no_items_means_no_concurrency():
    assert peak_concurrency([]) == 0
