"""A conversation's tree (`tree.py`) and the branch the model sees (`RecentTurns.branch_before`)."""

from datetime import UTC, datetime, timedelta

from alice_orchestrator.prompt import Turn
from alice_orchestrator.recent_turns import RecentTurns
from alice_orchestrator.tree import Tree, end_of_branch, with_parents

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def doc(i: int, message_id: str, role: str, **fields) -> dict:
    return {"_id": message_id, "role": role, "created_at": T0 + timedelta(seconds=i), **fields}


def legacy_conversation() -> list[dict]:
    """Stored before the tree: u1 was regenerated (a1, then a1b), u2 came after a1b."""
    return [
        doc(0, "u1", "user"),
        doc(1, "a1", "assistant", reply_to="u1"),
        doc(2, "a1b", "assistant", reply_to="u1"),
        doc(3, "u2", "user"),
        doc(4, "a2", "assistant", reply_to="u2"),
    ]


def test_messages_stored_before_the_tree_get_the_parents_they_were_shown_with():
    parents = {d["_id"]: d["parent_id"] for d in with_parents(legacy_conversation())}
    assert parents == {"u1": None, "a1": "u1", "a1b": "u1", "u2": "a1b", "a2": "u2"}


def branched() -> Tree:
    """u1 → a1 → u2 → a2, and u2 edited as u2b (its own reply a2b), and a2 regenerated as a2c."""
    return Tree.of(
        [
            doc(0, "u1", "user", parent_id=None),
            doc(1, "a1", "assistant", reply_to="u1", parent_id="u1"),
            doc(2, "u2", "user", parent_id="a1"),
            doc(3, "a2", "assistant", reply_to="u2", parent_id="u2"),
            doc(4, "u2b", "user", parent_id="a1"),
            doc(5, "a2b", "assistant", reply_to="u2b", parent_id="u2b"),
            doc(6, "a2c", "assistant", reply_to="u2", parent_id="u2"),
        ]
    )


def test_versions_are_the_messages_with_the_same_parent_and_role_oldest_first():
    tree = branched()
    assert tree.siblings("u2b") == ["u2", "u2b"]
    assert tree.siblings("a2") == ["a2", "a2c"]
    assert tree.siblings("u1") == ["u1"]


def test_a_branch_goes_through_the_chosen_message_and_on_to_its_newest_messages():
    tree = branched()
    assert tree.branch("u2") == ["u1", "a1", "u2", "a2c"]
    assert tree.branch("a2") == ["u1", "a1", "u2", "a2"]
    assert tree.branch("u2b") == ["u1", "a1", "u2b", "a2b"]
    # Nothing chosen (or a message since deleted): through the newest message.
    assert tree.branch(None) == tree.branch("gone") == ["u1", "a1", "u2", "a2c"]
    assert tree.path_to("a1") == ["u1", "a1"]


def test_the_end_of_a_branch_outside_the_messages_read_is_the_message_itself():
    nodes = [doc(0, "u1", "user", parent_id=None), doc(1, "a1", "assistant", reply_to="u1", parent_id="u1")]
    assert end_of_branch(nodes, "u1") == "a1"
    assert end_of_branch(nodes, "older") == "older"
    assert end_of_branch([], None) is None


def turn(i: int, message_id: str, role: str, parent: str | None, **fields) -> Turn:
    created = (T0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return Turn(
        message_id,
        role,
        fields.pop("content", message_id),
        created,
        parent_id=parent,
        parent_known=True,
        **fields,
    )


class NoStore:
    async def get_message(self, message_id, user_id=None):
        return None


async def test_the_model_sees_only_the_branch_of_the_message_it_answers():
    turns = [
        turn(0, "u1", "user", None),
        turn(1, "a1", "assistant", "u1", reply_to="u1"),
        turn(2, "u2", "user", "a1"),
        turn(3, "a2", "assistant", "u2", reply_to="u2"),
        turn(4, "u2b", "user", "a1"),  # an edit of u2
        turn(5, "a2b", "assistant", "u2b", reply_to="u2b", status="failed"),
        turn(6, "a2c", "assistant", "u2", reply_to="u2", content=""),
    ]
    recent = RecentTurns(None, NoStore())
    after_edit = turn(7, "u3", "user", "a2b")
    assert [t.id for t in await recent.branch_before("u", "c", turns, after_edit)] == ["u1", "a1", "u2b"]
    after_original = turn(8, "u3x", "user", "a2")
    assert [t.id for t in await recent.branch_before("u", "c", turns, after_original)] == [
        "u1",
        "a1",
        "u2",
        "a2",
    ]


async def test_messages_stored_before_the_tree_give_the_context_they_gave_before():
    old = [
        Turn("u1", "user", "hi", "2026-01-01T00:00:00.000Z"),
        Turn("a1", "assistant", "first", "2026-01-01T00:00:01.000Z", reply_to="u1"),
        Turn("a1b", "assistant", "better", "2026-01-01T00:00:02.000Z", reply_to="u1"),
    ]
    message = Turn("u2", "user", "next", "2026-01-01T00:00:03.000Z")
    recent = RecentTurns(None, NoStore())
    assert [t.id for t in await recent.branch_before("u", "c", old, message)] == ["u1", "a1b"]


async def test_a_branch_above_the_recent_turns_is_read_from_the_store_and_not_across_conversations():
    stored = {
        "a0": {
            "_id": "a0",
            "conversation_id": "c",
            "user_id": "u",
            "role": "assistant",
            "content": "old",
            "created_at": T0,
            "reply_to": "u0",
            "parent_id": "u0",
        },
        "u0": {
            "_id": "u0",
            "conversation_id": "other",
            "user_id": "u",
            "role": "user",
            "content": "x",
            "created_at": T0,
            "parent_id": None,
        },
    }

    class Store:
        async def get_message(self, message_id, user_id=None):
            found = stored.get(message_id)
            return found if found and found["user_id"] == user_id else None

    message = turn(9, "u5", "user", "a0")
    path = await RecentTurns(None, Store()).branch_before("u", "c", [], message)
    assert [t.id for t in path] == ["a0"]
