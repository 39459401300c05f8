"""Message rates from offset deltas over a sliding time window.

A topic's produce rate follows the sum of its end offsets; a group's consume rate on a topic
follows the sum of its committed offsets. The rate is the slope between the oldest and the
newest sample inside the window, which smooths bursty commits and uneven poll timing.
"""

from collections import deque
from collections.abc import Hashable


class RateTracker:
    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._samples: dict[Hashable, deque[tuple[float, int]]] = {}

    def observe(self, key: Hashable, now: float, value: int) -> float:
        """Record `value` at time `now` and return the smoothed rate per second."""
        samples = self._samples.setdefault(key, deque())
        if samples and value < samples[-1][1]:
            samples.clear()  # the offsets went backwards: topic recreated or group reset
        samples.append((now, value))
        while len(samples) > 2 and now - samples[1][0] >= self.window_s:
            samples.popleft()
        return self.rate(key)

    def rate(self, key: Hashable) -> float:
        samples = self._samples.get(key)
        if not samples or len(samples) < 2:
            return 0.0
        (t0, v0), (t1, v1) = samples[0], samples[-1]
        if t1 <= t0:
            return 0.0
        return (v1 - v0) / (t1 - t0)

    def forget_except(self, keys: set[Hashable]) -> None:
        """Drop series that no longer exist so deleted topics and groups do not linger."""
        for key in list(self._samples):
            if key not in keys:
                del self._samples[key]
