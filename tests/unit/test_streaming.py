import threading
import time

from serverless_patterns.shared.streaming import bounded_map


def test_results_come_in_input_order_with_the_input_read_at_most_a_window_ahead():
    pulled = []
    alive = []
    lock = threading.Lock()

    def items():
        for i in range(200):
            pulled.append(i)
            yield i

    def work(i):
        with lock:
            alive.append(i)
        time.sleep(0.001 * (i % 3))
        return i * i

    consumed = 0
    for result in bounded_map(work, items(), workers=4, window=8):
        assert result == consumed * consumed
        consumed += 1
        # Never more than `window` items taken from the stream beyond those handed out.
        assert len(pulled) - consumed <= 8

    assert consumed == 200
    assert sorted(alive) == list(range(200))


def test_an_empty_stream_gives_nothing():
    assert list(bounded_map(lambda item: item, iter([]), workers=2, window=2)) == []
