"""The finished-offsets map stored in commit metadata (pure logic)."""

from alice_common.kafka import offset_map
from alice_common.kafka.tracker import CommitPoint


def test_round_trip():
    point = CommitPoint(1000, frozenset({1001, 1002, 1017, 1999}))
    metadata = offset_map.encode(point)
    assert metadata.startswith(offset_map.PREFIX)
    assert offset_map.decode(metadata, 1000) == set(point.finished_above)


def test_nothing_finished_above_means_no_metadata():
    assert offset_map.encode(CommitPoint(7)) == ""
    assert offset_map.decode("", 7) == set()


def test_a_map_only_applies_to_the_offset_it_was_committed_with():
    metadata = offset_map.encode(CommitPoint(10, frozenset({12})))
    assert offset_map.decode(metadata, 11) == set()


def test_foreign_or_damaged_metadata_is_ignored():
    assert offset_map.decode("written by another tool", 0) == set()
    assert offset_map.decode(f"{offset_map.PREFIX}0:%%%not-base64", 0) == set()
    assert offset_map.decode(f"{offset_map.PREFIX}zero:AAAA", 0) == set()
    assert offset_map.decode(None, 0) == set()


def test_a_map_too_large_for_kafka_is_left_out():
    scattered = frozenset(range(1, 2_000_000, 7_919))  # does not compress well
    huge = offset_map.encode(CommitPoint(0, scattered))
    assert len(huge) <= offset_map.MAX_METADATA_CHARS
    assert huge == "" or offset_map.decode(huge, 0) == set(scattered)
    dense = offset_map.encode(CommitPoint(0, frozenset(range(1, 5000))))
    assert offset_map.decode(dense, 0) == set(range(1, 5000))
