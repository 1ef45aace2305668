import threading

import pytest

from serverless_patterns.load_leveling.pacing import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_paces_to_the_configured_rate_after_the_burst():
    clock = FakeClock()
    bucket = TokenBucket(rate_per_second=10, burst=1, clock=clock, sleep=clock.sleep)

    for _ in range(21):
        bucket.acquire()

    # One token was available at once; the other 20 arrive at 10 per second.
    assert clock.now - 100.0 == pytest.approx(2.0)


def test_idle_time_refills_up_to_the_burst_only():
    clock = FakeClock()
    bucket = TokenBucket(rate_per_second=5, burst=5, clock=clock, sleep=clock.sleep)
    clock.now += 60  # a long idle period must not bank 300 tokens

    waits = [bucket.acquire() for _ in range(10)]

    assert waits[:5] == [0.0] * 5
    assert sum(waits) == pytest.approx(1.0)


def test_threads_sharing_a_bucket_do_not_exceed_the_rate():
    bucket = TokenBucket(rate_per_second=200, burst=1)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            bucket.acquire()
            with lock:
                stamps.append(bucket._clock())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # 40 tokens at 200/s with a burst of 1 take at least 39/200 s.
    assert max(stamps) - min(stamps) >= 39 / 200 * 0.95


def test_rejects_a_rate_that_is_not_positive():
    with pytest.raises(ValueError, match="rate_per_second"):
        TokenBucket(rate_per_second=0)


def test_by_default_no_one_second_window_sees_more_than_the_rate_even_after_idling():
    clock = FakeClock()
    bucket = TokenBucket(rate_per_second=25, clock=clock, sleep=clock.sleep)
    clock.now += 60  # idle, as a fresh or quiet consumer is
    stamps = []
    for _ in range(100):
        bucket.acquire()
        stamps.append(clock.now)

    busiest_window = max(sum(1 for stamp in stamps if start <= stamp < start + 1.0) for start in stamps)
    assert busiest_window <= 25


def test_a_costly_acquire_is_a_debt_paid_by_sleeping():
    clock = FakeClock()
    bucket = TokenBucket(rate_per_second=10, clock=clock, sleep=clock.sleep)

    bucket.acquire(5)  # one token in hand, four owed
    bucket.acquire(1)

    assert clock.now - 100.0 == pytest.approx(0.5)
