import random

import pytest
from alice_dataflow.analytics import GROWTH, LATENCY_BOUNDS_MS, bucket_of, percentile, summarize


def hist_of(values):
    hist = {}
    for v in values:
        key = str(bucket_of(v))
        hist[key] = hist.get(key, 0) + 1
    return hist


def test_buckets_hold_their_values():
    for value in (0.5, 10, 10.01, 123.4, 999, 5000, 59_999):
        index = bucket_of(value)
        assert value <= LATENCY_BOUNDS_MS[index] * (1 + 1e-9)
        if index > 0:
            assert value > LATENCY_BOUNDS_MS[index - 1]
    assert bucket_of(10**9) == len(LATENCY_BOUNDS_MS) - 1
    assert len(LATENCY_BOUNDS_MS) <= 120


@pytest.mark.parametrize("q", [0.5, 0.95])
def test_percentiles_are_within_one_bucket_of_exact(q):
    rng = random.Random(7)
    values = [rng.lognormvariate(7, 0.8) for _ in range(5000)]  # ~1 s median reply latency
    exact = sorted(values)[int(q * len(values)) - 1]
    estimate = percentile(hist_of(values), q)
    assert abs(estimate - exact) / exact < GROWTH - 1


def test_percentile_of_nothing_is_none():
    assert percentile({}, 0.5) is None


def test_summary_of_a_day():
    doc = {"_id": "2026-11-26", "messages": 4, "replies": 2, "active_users": 1, "tokens": 30,
           "latency_hist": hist_of([100, 200])}  # fmt: skip
    row = summarize(doc)
    assert row["day"] == "2026-11-26" and row["messages"] == 4 and row["active_users"] == 1
    assert 90 <= row["latency_ms"]["p50"] <= 110
    assert 180 <= row["latency_ms"]["p95"] <= 220
