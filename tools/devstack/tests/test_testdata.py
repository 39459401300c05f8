"""Which topics and databases a test session may delete when it ends (unit tests; the removal
itself against real Kafka and MongoDB is in tests/integration/test_test_data_cleanup.py)."""

from devstack.testing import Infra, unique_name
from devstack.testing.testdata import Ownership, handed_out_names


def session(session_id: str) -> Infra:
    return Infra("k:9092", "redis://r", "mongodb://m", "http://w", 50051, "native", session_id=session_id)


def test_unique_names_are_recorded_as_the_sessions_own():
    name = unique_name("df")
    assert name.startswith("df_") and len(name) == len("df_") + 10
    assert name in handed_out_names()
    assert name in session("aaaa").ownership().names


def test_a_session_deletes_its_prefix_and_the_names_it_handed_out_and_nothing_else():
    mine = Ownership("test-aaaa.", "test_aaaa", frozenset({"e2e-chat_1111", "df_2222"}))
    topics = [
        "test-aaaa.chat.requests",
        "test-aaaa.dlq_3333.chat.requests.dlq",
        "e2e-chat_1111.chat.requests",
        # another session of this or another checkout (any ALICE_DEVSTACK_DIR) on the same Kafka
        "test-bbbb.chat.requests",
        "e2e-chat_9999.chat.requests",
        # the dev stack's own topics
        "chat.requests",
        "__consumer_offsets",
        # names that only look like ours
        "e2e-chat_11112.chat.requests",
        "xtest-aaaa.chat.requests",
    ]
    assert mine.topics(topics) == [
        "e2e-chat_1111.chat.requests",
        "test-aaaa.chat.requests",
        "test-aaaa.dlq_3333.chat.requests.dlq",
    ]
    databases = ["alice", "admin", "test_aaaa", "test_bbbb", "df_2222", "df_9999", "e2e_chat_5555"]
    assert mine.databases(databases) == ["df_2222", "test_aaaa"]


def test_two_sessions_never_own_each_others_data():
    a, b = session("aaaa").ownership(), session("bbbb").ownership()
    assert not a.owns_topic("test-bbbb.chat.requests") and not b.owns_topic("test-aaaa.chat.requests")
    assert not a.owns_database("test_bbbb") and not b.owns_database("test_aaaa")
