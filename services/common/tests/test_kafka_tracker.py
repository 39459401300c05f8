"""Key ordering and low-water-mark bookkeeping of the consume loop (pure logic, no broker)."""

import random

from alice_common.kafka.tracker import CommitPoint, WorkTracker

P = ("t", 0)
Q = ("t", 1)


def offsets(works):
    return [w.offset for w in works]


def positions(tracker):
    return {partition: point.offset for partition, point in tracker.commit_points().items()}


def tracker_with(records, partitions=(P,)):
    tracker = WorkTracker()
    for partition in partitions:
        tracker.assign(partition)
    for partition, offset, key in records:
        assert tracker.add(partition, offset, key, f"{key}@{offset}")
    return tracker


def test_same_key_waits_for_the_previous_record_different_keys_do_not():
    tracker = tracker_with([(P, 0, b"a"), (P, 1, b"a"), (P, 2, b"b"), (P, 3, b"a")])
    first = tracker.take(10)
    assert offsets(first) == [0, 2]
    assert tracker.take(10) == []
    tracker.finish(first[0])
    second = tracker.take(10)
    assert offsets(second) == [1]
    tracker.finish(second[0])
    assert offsets(tracker.take(10)) == [3]


def test_records_without_key_run_concurrently():
    tracker = tracker_with([(P, 0, None), (P, 1, None), (P, 2, None)])
    assert offsets(tracker.take(10)) == [0, 1, 2]


def test_take_respects_the_limit_and_keeps_the_rest_ready():
    tracker = tracker_with([(P, i, f"k{i}".encode()) for i in range(5)])
    assert offsets(tracker.take(2)) == [0, 1]
    assert offsets(tracker.take(0)) == []
    assert offsets(tracker.take(10)) == [2, 3, 4]


def test_commit_position_is_the_oldest_unfinished_record():
    tracker = tracker_with([(P, 10, b"a"), (P, 11, b"b"), (P, 12, b"c")])
    assert positions(tracker) == {P: 10}
    works = {w.offset: w for w in tracker.take(10)}
    tracker.finish(works[11])
    tracker.finish(works[12])
    assert positions(tracker) == {P: 10}  # 11 and 12 are done, but 10 is not
    assert tracker.buffered(P) == 3
    tracker.finish(works[10])
    assert positions(tracker) == {P: 13}
    assert tracker.buffered(P) == 0


def test_commit_points_only_report_partitions_that_moved():
    tracker = tracker_with([(P, 0, b"a"), (Q, 0, b"a")], partitions=(P, Q))
    works = tracker.take(10)
    tracker.mark_committed(tracker.commit_points())
    assert positions(tracker) == {}
    tracker.finish(next(w for w in works if w.partition == Q))
    assert positions(tracker) == {Q: 1}


def test_nothing_to_commit_before_the_first_record():
    tracker = tracker_with([])
    assert positions(tracker) == {}


def test_revoke_drops_waiting_records_and_never_commits_past_them():
    tracker = tracker_with([(P, 0, b"a"), (P, 1, b"a"), (P, 2, b"b")])
    in_flight = tracker.take(10)
    assert offsets(in_flight) == [0, 2]
    tracker.revoke(P)
    assert not tracker.add(P, 3, b"c", "late")
    for work in in_flight:
        assert tracker.finish(work)
    assert tracker.take(10) == []  # offset 1 was dropped, not started
    assert positions(tracker) == {P: 1}
    assert tracker.in_flight() == 0


def test_work_of_a_forgotten_partition_is_ignored_even_after_reassignment():
    tracker = tracker_with([(P, 0, b"a"), (P, 1, b"a")])
    stale = tracker.take(10)[0]
    tracker.forget(P)
    tracker.assign(P)
    assert tracker.add(P, 0, b"a", "again")
    assert not tracker.finish(stale)
    assert positions(tracker) == {P: 0}
    assert offsets(tracker.take(10)) == [0]


def test_refetched_offsets_are_ignored():
    tracker = tracker_with([(P, 0, b"a"), (P, 1, b"b")])
    assert not tracker.add(P, 1, b"b", "dup")
    assert not tracker.add(("t", 9), 0, b"a", "unassigned")
    assert tracker.buffered(P) == 2


def test_random_schedules_keep_key_order_and_a_safe_low_water_mark():
    rng = random.Random(20261126)
    for _ in range(200):
        tracker = WorkTracker()
        partitions = [("t", p) for p in range(3)]
        for partition in partitions:
            tracker.assign(partition)
        next_offset = dict.fromkeys(partitions, 0)
        last_added: dict[tuple, int] = {}
        committed: dict[tuple, int] = {}
        started: dict[tuple, list[int]] = {}
        unfinished: dict[tuple, set[int]] = {p: set() for p in partitions}
        running = []
        for _step in range(150):
            action = rng.random()
            if action < 0.45:
                partition = rng.choice(partitions)
                key = rng.choice([b"a", b"b", b"c", b"d", None])
                offset = next_offset[partition]
                next_offset[partition] += rng.choice([1, 1, 1, 2])  # gaps happen (compaction, markers)
                tracker.add(partition, offset, key, key)
                last_added[partition] = offset
                unfinished[partition].add(offset)
            elif action < 0.75:
                for work in tracker.take(rng.randint(1, 4)):
                    units_running = {w.unit for w in running}
                    assert work.unit not in units_running, "two records of one key in flight"
                    if work.item is not None:
                        started.setdefault((work.partition, work.item), []).append(work.offset)
                    running.append(work)
            elif running:
                work = running.pop(rng.randrange(len(running)))
                assert tracker.finish(work)
                unfinished[work.partition].discard(work.offset)
            points = tracker.commit_points()
            for partition, point in points.items():
                assert all(o >= point.offset for o in unfinished[partition]), "commit passes unfinished"
                assert not point.finished_above & unfinished[partition], "unfinished recorded as finished"
            if rng.random() < 0.3:
                tracker.mark_committed(points)
                committed.update({p: c.offset for p, c in points.items()})
        for sequence in started.values():
            assert sequence == sorted(sequence), "a key started out of offset order"
        # Drain everything: every partition's position reaches one past its last record.
        while running or any(unfinished.values()):
            running.extend(tracker.take(100))
            work = running.pop()
            tracker.finish(work)
            unfinished[work.partition].discard(work.offset)
        final = {**committed, **positions(tracker)}
        assert final == {p: last + 1 for p, last in last_added.items()}
        assert tracker.in_flight() == 0


def test_commit_point_records_what_finished_after_the_low_water_mark():
    tracker = tracker_with([(P, 5, b"a"), (P, 6, b"b"), (P, 7, b"c"), (P, 8, b"a")])
    works = {w.offset: w for w in tracker.take(10)}
    tracker.finish(works[7])
    tracker.finish(works[6])
    assert tracker.commit_points() == {P: CommitPoint(5, frozenset({6, 7}))}
    tracker.finish(works[5])
    assert tracker.commit_points() == {P: CommitPoint(8)}


def test_the_next_owner_skips_records_the_previous_one_finished():
    previous = tracker_with([(P, 0, b"a"), (P, 1, b"b"), (P, 2, b"a"), (P, 3, b"c")])
    works = {w.offset: w for w in previous.take(10)}
    previous.finish(works[1])
    previous.finish(works[3])
    point = previous.commit_points()[P]
    assert point == CommitPoint(0, frozenset({1, 3}))

    successor = WorkTracker()
    successor.assign(P)
    successor.skip_finished(P, point.finished_above)
    fetched = [(0, b"a"), (1, b"b"), (2, b"a"), (3, b"c")]
    queued = [successor.add(P, offset, key, None) for offset, key in fetched]
    assert queued == [True, False, True, False]
    first = successor.take(10)
    assert offsets(first) == [0]  # 2 waits for 0 (same key); 1 and 3 never run again
    successor.finish(first[0])
    second = successor.take(10)
    assert offsets(second) == [2]
    successor.finish(second[0])
    assert positions(successor) == {P: 4}


def test_a_suspended_partition_keeps_its_records_and_starts_them_on_resume():
    tracker = tracker_with([(P, 0, b"a"), (P, 1, b"b"), (Q, 0, b"c")], partitions=(P, Q))
    tracker.suspend(P)
    assert [(w.partition, w.offset) for w in tracker.take(10)] == [(Q, 0)]
    tracker.resume(P)
    assert offsets(tracker.take(10)) == [0, 1]
    assert tracker.next_offset(P) == 2


def test_unsettled_means_running_or_finished_since_the_last_commit():
    tracker = tracker_with([(P, 5, b"a"), (P, 6, b"b")])
    assert not tracker.unsettled(P)  # fetched, nothing started: the next owner refetches them
    first, second = tracker.take(10)
    assert tracker.unsettled(P)
    tracker.finish(second)
    tracker.finish(first)
    assert tracker.unsettled(P)  # finished but not committed: would run again elsewhere
    tracker.mark_committed(tracker.commit_points())
    assert not tracker.unsettled(P)
