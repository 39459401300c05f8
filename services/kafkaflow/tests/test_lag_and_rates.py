from alice_kafkaflow.rates import RateTracker
from alice_kafkaflow.snapshot import PartitionOffsets, TopicState, group_topic_lags, partition_lag


def test_lag_is_end_minus_committed():
    lag = partition_lag(PartitionOffsets(0, oldest_offset=0, end_offset=120), committed=100)
    assert (lag.committed_offset, lag.lag) == (100, 20)


def test_records_removed_by_retention_are_not_lag():
    lag = partition_lag(PartitionOffsets(0, oldest_offset=90, end_offset=120), committed=10)
    assert lag.lag == 30


def test_uncommitted_partition_counts_every_stored_record_and_reports_minus_one():
    lag = partition_lag(PartitionOffsets(3, oldest_offset=5, end_offset=12), committed=None)
    assert (lag.partition, lag.committed_offset, lag.lag) == (3, -1, 7)


def test_commit_ahead_of_end_never_gives_negative_lag():
    assert partition_lag(PartitionOffsets(0, 0, 10), committed=11).lag == 0


def test_group_covers_every_partition_of_a_topic_it_commits_to_or_is_assigned():
    topics = {
        "a": TopicState("a", (PartitionOffsets(0, 0, 10), PartitionOffsets(1, 0, 4))),
        "b": TopicState("b", (PartitionOffsets(0, 0, 7),)),
        "c": TopicState("c", (PartitionOffsets(0, 0, 9),)),
    }
    lags = group_topic_lags(topics, committed={("a", 0): 6, ("gone", 0): 3}, assigned={("b", 0)})
    assert sorted(lags) == ["a", "b"]
    assert [(p.partition, p.lag) for p in lags["a"]] == [(0, 4), (1, 4)]
    assert [p.lag for p in lags["b"]] == [7]


def test_rate_is_the_slope_over_the_window():
    rates = RateTracker(window_s=10)
    assert rates.observe("t", 0.0, 0) == 0.0
    assert rates.observe("t", 5.0, 50) == 10.0
    assert rates.observe("t", 10.0, 150) == 15.0
    # the sample at t=0 leaves the window once a newer one is at least 10 s old
    assert rates.observe("t", 15.0, 150) == 10.0
    assert rates.observe("t", 20.0, 150) == 0.0


def test_rate_restarts_when_offsets_go_backwards():
    rates = RateTracker(window_s=60)
    rates.observe("t", 0.0, 1000)
    rates.observe("t", 1.0, 1010)
    assert rates.observe("t", 2.0, 5) == 0.0
    assert rates.observe("t", 3.0, 15) == 10.0


def test_forgotten_series_start_from_zero():
    rates = RateTracker(window_s=60)
    rates.observe("t", 0.0, 0)
    rates.observe("t", 1.0, 10)
    rates.forget_except(set())
    assert rates.rate("t") == 0.0
