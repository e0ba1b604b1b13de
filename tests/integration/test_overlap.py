"""The overlap evidence itself: requests one after another never count as in
flight together; requests held open together do."""

import threading

import pytest
from integration.overlap import Spans


def test_requests_one_after_another_are_never_in_flight_together():
    spans = Spans()
    for _ in range(8):
        with spans.request():
            pass
    assert spans.max_in_flight() == 1
    with pytest.raises(AssertionError, match="only 1 of 8"):
        spans.assert_overlapped(8, "serial")


def test_requests_held_open_together_are_in_flight_together():
    spans = Spans()
    inside = threading.Barrier(8, timeout=30)

    def request():
        with spans.request():
            inside.wait()  # every request is open when the barrier lets them go

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert spans.assert_overlapped(8, "held open") == 8
