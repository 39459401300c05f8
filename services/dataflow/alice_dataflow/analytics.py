"""Daily chat analytics: messages, active users, tokens, reply latency p50/p95 per UTC day.

Each `ChatCompleted` becomes one fact in `analytics_replies` (`_id` = reply id, so a redelivered
event is stored once). Days are summarised from their facts when asked for: exact distinct users
and exact percentiles, and no shared counter document that concurrent consumers would have to
update — FerretDB (the native stack's MongoDB) applies concurrent `$inc`s to one document
non-atomically and loses some. A finished day's summary is kept in `analytics_daily` and
reused; a late fact for a finished day drops that summary so the next read recomputes it.
Per-day state is bounded by the day's replies (one small fact each); summaries are fixed-size.
"""

import math
from datetime import date, timedelta

from alice_common.events import ChatCompleted, utcnow
from alice_common.mongo import replace_by_id
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

FACT_FIELDS = {"user_id": 1, "messages": 1, "prompt_tokens": 1, "completion_tokens": 1, "latency_ms": 1}


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank q-quantile (0 < q <= 1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)


def fact_of(event: ChatCompleted) -> dict:
    return {
        "_id": event.reply_id,
        "day": event.occurred_at.date().isoformat(),
        "user_id": event.user_id,
        "status": event.status,
        "messages": 2 if event.assistant_content.strip() else 1,
        "prompt_tokens": event.usage.prompt_tokens,
        "completion_tokens": event.usage.completion_tokens,
        "latency_ms": event.usage.latency_ms if event.usage.latency_ms > 0 else None,
    }


def summarize(day: str, facts: list[dict]) -> dict:
    latencies = [f["latency_ms"] for f in facts if f.get("latency_ms")]
    prompt = sum(f.get("prompt_tokens", 0) for f in facts)
    completion = sum(f.get("completion_tokens", 0) for f in facts)
    return {
        "day": day,
        "messages": sum(f.get("messages", 0) for f in facts),
        "replies": len(facts),
        "active_users": len({f["user_id"] for f in facts}),
        "tokens": prompt + completion,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "latency_ms": {"p50": percentile(latencies, 0.50), "p95": percentile(latencies, 0.95)},
    }


def totals(rows: list[dict]) -> dict:
    return {
        name: sum(r[name] for r in rows)
        for name in ("messages", "replies", "tokens", "prompt_tokens", "completion_tokens")
    }


class Analytics:
    def __init__(self, db: AsyncDatabase) -> None:
        self.facts = db["analytics_replies"]
        self.daily = db["analytics_daily"]

    async def ensure_indexes(self) -> None:
        await self.facts.create_index([("day", ASCENDING)])

    async def record(self, event: ChatCompleted) -> None:
        fact = fact_of(event)
        try:
            await self.facts.insert_one(fact)
        except DuplicateKeyError:
            return  # redelivery: counted already
        if fact["day"] < utcnow().date().isoformat():
            await self.daily.delete_one({"_id": fact["day"]})  # a late fact: summary is stale

    async def forget_user(self, user_id: str) -> None:
        """A deleted user's facts, and the summaries of their days (recomputed when next asked)."""
        days = {doc["day"] async for doc in self.facts.find({"user_id": user_id}, {"day": 1})}
        await self.facts.delete_many({"user_id": user_id})
        if days:
            await self.daily.delete_many({"_id": {"$in": sorted(days)}})

    async def stats(self, days: int) -> dict:
        today = utcnow().date()
        rows = [await self._day(today - timedelta(days=back), today) for back in range(days - 1, -1, -1)]
        rows = [r for r in rows if r["replies"]]
        return {"days": rows, "totals": totals(rows)}

    async def _day(self, day: date, today: date) -> dict:
        key = day.isoformat()
        if day < today:
            cached = await self.daily.find_one({"_id": key})
            if cached is not None:
                return {k: v for k, v in cached.items() if k not in ("_id", "summarized_at")}
        facts = await self.facts.find({"day": key}, FACT_FIELDS).to_list(length=None)
        row = summarize(key, facts)
        if day < today and facts:
            await replace_by_id(self.daily, key, {**row, "summarized_at": utcnow()})
        return row
