"""Recent turns of a conversation: Redis list `ctx:{conversation_id}` in front of MongoDB.

The cache is only ever a copy: a miss rebuilds it from `messages`, appends use RPUSHX so they
never create a partial list, and readers de-duplicate by message id.
"""

import json

import redis.asyncio as aioredis
from alice_common.wire import iso_ms

from alice_orchestrator.prompt import Turn
from alice_orchestrator.store import ChatStore
from alice_orchestrator.tree import with_parents


def ctx_key(conversation_id: str) -> str:
    return f"ctx:{conversation_id}"


def turn_of(message: dict) -> Turn:
    return Turn(
        id=message["_id"],
        role=message["role"],
        content=message.get("content", ""),
        created_at=iso_ms(message["created_at"]),
        reply_to=message.get("reply_to"),
        status=message.get("status", "completed"),
        parent_id=message.get("parent_id"),
        parent_known="parent_id" in message,
    )


class RecentTurns:
    def __init__(self, redis: aioredis.Redis, store: ChatStore, max_turns: int = 40, ttl_s: int = 86400):
        self.redis = redis
        self.store = store
        self.max_turns = max_turns
        self.ttl_s = ttl_s

    async def load(self, user_id: str, conversation_id: str) -> list[Turn]:
        key = ctx_key(conversation_id)
        cached = await self.redis.lrange(key, 0, -1)
        if cached:
            return [Turn.from_json(json.loads(item)) for item in cached]
        messages = await self.store.list_messages(user_id, conversation_id, self.max_turns)
        turns = [turn_of(m) for m in messages]
        if turns:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.rpush(key, *[json.dumps(t.to_json()) for t in turns])
                pipe.expire(key, self.ttl_s)
                await pipe.execute()
        return turns

    async def append(self, conversation_id: str, turns: list[Turn]) -> None:
        if not turns:
            return
        key = ctx_key(conversation_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpushx(key, *[json.dumps(t.to_json()) for t in turns])
            pipe.ltrim(key, -self.max_turns, -1)
            pipe.expire(key, self.ttl_s)
            await pipe.execute()

    async def branch_before(
        self, user_id: str, conversation_id: str, turns: list[Turn], message: Turn
    ) -> list[Turn]:
        """What the model sees before `message`: the usable turns of its branch, oldest first, at most
        `max_turns` of them. Read from `turns` (the recent ones); a branch that goes on above them
        (an edit far back) is read from the store one message at a time."""
        parents = {n["_id"]: n["parent_id"] for n in with_parents([t.node() for t in [*turns, message]])}
        by_id = {t.id: t for t in turns}
        path: list[Turn] = []
        node = parents[message.id]
        while node is not None and len(path) < self.max_turns:
            turn = by_id.get(node)
            if turn is None:
                doc = await self.store.get_message(node, user_id)
                if doc is None or doc["conversation_id"] != conversation_id:
                    break
                turn = turn_of(doc)
            path.append(turn)
            # A message read from the store, stored before the tree, is where the branch starts.
            node = parents.get(node, turn.parent_id)
        return [t for t in reversed(path) if t.usable and t.id != message.id]

    async def forget(self, conversation_id: str) -> None:
        await self.redis.delete(ctx_key(conversation_id))
