"""A conversation's messages as a tree (docs/decisions/0069-edit-and-branch.md).

Every message names its parent: a user message the message it follows (None: the first), a reply
the user message it answers. Messages with the same parent are versions of each other: an edited
message, a regenerated reply. A branch is a path from the root down; the one shown ends at the
conversation's `current_leaf`, continued by the newest message below it at each step.

Messages stored before the tree have no `parent_id`; `parent_of` derives it as the conversation was
shown then: a reply answers its `reply_to` (else the user message before it), a user message
follows the newest reply to the user message before it.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

# The fields a tree needs, read without the messages' text.
SKELETON = {"_id": 1, "role": 1, "parent_id": 1, "reply_to": 1, "created_at": 1}


def _order(doc: dict) -> tuple:
    return (doc["created_at"], doc["_id"])


def with_parents(docs: Iterable[dict]) -> list[dict]:
    """`docs` oldest first, each with its `parent_id` (derived for messages stored before the tree)."""
    ordered = sorted(docs, key=_order)
    last_user: str | None = None
    newest_reply: dict[str, str] = {}
    out = []
    for doc in ordered:
        if "parent_id" not in doc:
            doc = {**doc, "parent_id": parent_of(doc, last_user, newest_reply)}
        if doc["role"] == "user":
            last_user = doc["_id"]
        elif doc["parent_id"] is not None:
            newest_reply[doc["parent_id"]] = doc["_id"]
        out.append(doc)
    return out


def parent_of(doc: dict, last_user: str | None, newest_reply: dict[str, str]) -> str | None:
    if doc["role"] == "assistant":
        return doc.get("reply_to") or last_user
    if last_user is None:
        return None
    return newest_reply.get(last_user, last_user)


@dataclass
class Tree:
    by_id: dict[str, dict]
    children: dict[str | None, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, docs: Iterable[dict]) -> "Tree":
        nodes = with_parents(docs)
        tree = cls({d["_id"]: d for d in nodes})
        for doc in nodes:  # oldest first, so each list of children is too
            parent = doc["parent_id"] if doc["parent_id"] in tree.by_id else None
            tree.children.setdefault(parent, []).append(doc["_id"])
        return tree

    def parent(self, message_id: str) -> str | None:
        parent = self.by_id[message_id]["parent_id"]
        return parent if parent in self.by_id else None

    def path_to(self, message_id: str) -> list[str]:
        """Root → `message_id`."""
        path: list[str] = []
        node: str | None = message_id
        while node is not None and len(path) <= len(self.by_id):  # a cycle in bad data ends too
            path.append(node)
            node = self.parent(node)
        return path[::-1]

    def newest_leaf_under(self, message_id: str) -> str:
        node = message_id
        while self.children.get(node):
            node = self.children[node][-1]
        return node

    def siblings(self, message_id: str) -> list[str]:
        role = self.by_id[message_id]["role"]
        return [m for m in self.children.get(self.parent(message_id), []) if self.by_id[m]["role"] == role]

    def newest(self) -> str | None:
        return max(self.by_id.values(), key=_order)["_id"] if self.by_id else None

    def branch(self, through: str | None) -> list[str]:
        """The branch through `through` (else through the newest message) down to its newest leaf."""
        start = through if through in self.by_id else self.newest()
        return [] if start is None else self.path_to(self.newest_leaf_under(start))


def end_of_branch(nodes: Iterable[dict], through: str | None) -> str | None:
    """Where the branch through `through` ends (`Tree.branch`), among `nodes`; `through` itself
    when it is not among them."""
    tree = Tree.of(nodes)
    if through is not None and through not in tree.by_id:
        return through
    branch = tree.branch(through)
    return branch[-1] if branch else None
