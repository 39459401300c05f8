"""Feedback on replies: the owner's rating (and optional comment) kept on the assistant message
itself, as its `feedback` field (docs/decisions/0052-feedback-on-the-reply.md).

Writes filter on `_id` alone (the owner checked by the caller), like every chat-path query.
"""

from collections import Counter
from datetime import UTC, datetime

from alice_common.wire import Feedback, FeedbackComment, FeedbackGiven, FeedbackStats, ModelFeedback
from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

LATEST_COMMENTS = 20
UNKNOWN_MODEL = "unknown"


class FeedbackStore:
    def __init__(self, messages: AsyncCollection):
        self.messages = messages

    async def give(self, reply_id: str, given: FeedbackGiven) -> Feedback:
        """Replaces any earlier feedback on the reply: giving the same twice changes nothing else."""
        feedback = Feedback(**given.stored().model_dump(), updated_at=datetime.now(UTC))
        doc = feedback.model_dump(exclude_none=True)
        await self.messages.update_one({"_id": reply_id}, {"$set": {"feedback": doc}})
        return feedback

    async def clear(self, reply_id: str) -> None:
        await self.messages.update_one({"_id": reply_id}, {"$unset": {"feedback": ""}})

    async def stats(self) -> FeedbackStats:
        """Every user's ratings. An admin view, read rarely: it scans the rated replies."""
        up: Counter[str] = Counter()
        down: Counter[str] = Counter()
        rated = self.messages.find({"feedback.rating": {"$exists": True}}, {"model": 1, "feedback": 1})
        async for doc in rated:
            model = doc.get("model") or UNKNOWN_MODEL
            (up if doc["feedback"]["rating"] == "up" else down)[model] += 1
        models = [
            ModelFeedback(model=m, up=up[m], down=down[m], up_share=up[m] / (up[m] + down[m]))
            for m in sorted(up.keys() | down.keys(), key=lambda m: (-(up[m] + down[m]), m))
        ]
        return FeedbackStats(models=models, latest_comments=await self._latest_comments())

    async def _latest_comments(self) -> list[FeedbackComment]:
        commented = self.messages.find(
            {"feedback.comment": {"$exists": True}}, {"model": 1, "feedback": 1}
        ).sort([("feedback.updated_at", DESCENDING), ("_id", DESCENDING)])
        docs = await commented.limit(LATEST_COMMENTS).to_list(LATEST_COMMENTS)
        return [FeedbackComment(model=doc.get("model") or UNKNOWN_MODEL, **doc["feedback"]) for doc in docs]
