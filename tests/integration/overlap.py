"""Evidence that concurrent requests really overlapped: each request's start and
end (monotonic clock) are recorded, and the most in flight at one instant is
computed from them. A concurrency test that asserts it ran its requests side
by side, not one after another (a pool that serialised them, a barrier nobody
waited at), would pass its other checks without proving anything."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Spans:
    """Thread-safe record of (start, end) per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: list[tuple[float, float]] = []

    @contextmanager
    def request(self) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            end = time.monotonic()
            with self._lock:
                self.spans.append((start, end))

    def max_in_flight(self) -> int:
        """The most requests open at one instant (one ending as another starts
        at the same reading does not count as overlapping)."""
        edges = sorted([(start, 1) for start, _ in self.spans] + [(end, -1) for _, end in self.spans])
        most = now = 0
        for _, step in edges:
            now += step
            most = max(most, now)
        return most

    def assert_overlapped(self, threads: int, label: str) -> int:
        """At least half of `threads` in flight at once; returns the figure."""
        most = self.max_in_flight()
        print(f"{label}: {len(self.spans)} requests, at most {most} of {threads} threads in flight at once")
        assert most >= threads // 2, f"{label}: only {most} of {threads} requests ever overlapped"
        return most
