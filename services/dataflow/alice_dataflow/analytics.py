"""Daily aggregates of chat traffic in `analytics_daily`, one document per UTC day.

Reply latency percentiles come from a fixed histogram: bucket i holds latencies up to
LATENCY_BOUNDS_MS[i], bounds growing by 10 % from 10 ms to ~10 min. The stored size per day is
fixed (≤ 120 counters) whatever the traffic, increments are atomic `$inc`s, and a percentile is
off by at most one bucket width (≤ 10 %). Active users are exact: one `analytics_daily_users`
record per (day, user), and the day's counter goes up only when that record is first created.
Redelivered events are counted once: `analytics_replies` remembers each reply id.
"""

import math
from datetime import timedelta

from alice_common.events import ChatCompleted, utcnow
from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo.errors import DuplicateKeyError

GROWTH = 1.10
FIRST_BOUND_MS = 10.0
LATENCY_BOUNDS_MS = [FIRST_BOUND_MS * GROWTH**i for i in range(int(math.log(60_000) / math.log(GROWTH)) + 1)]


def bucket_of(latency_ms: float) -> int:
    if latency_ms <= FIRST_BOUND_MS:
        return 0
    index = math.ceil(math.log(latency_ms / FIRST_BOUND_MS) / math.log(GROWTH) - 1e-9)
    return min(index, len(LATENCY_BOUNDS_MS) - 1)


def percentile(histogram: dict[str, int], q: float) -> float | None:
    """The q-quantile (0 < q ≤ 1) of a histogram {bucket index: count}, interpolated in its bucket."""
    counts = sorted((int(k), v) for k, v in histogram.items() if v > 0)
    total = sum(v for _, v in counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in counts:
        if seen + count >= rank:
            low = 0.0 if index == 0 else LATENCY_BOUNDS_MS[index - 1]
            high = LATENCY_BOUNDS_MS[index]
            return round(low + (high - low) * (rank - seen) / count, 1)
        seen += count
    return round(LATENCY_BOUNDS_MS[counts[-1][0]], 1)


def day_of(event: ChatCompleted) -> str:
    return event.occurred_at.date().isoformat()


class Analytics:
    def __init__(self, db: AsyncIOMotorDatabase) -> None:
        self.daily = db["analytics_daily"]
        self.users = db["analytics_daily_users"]
        self.seen = db["analytics_replies"]

    async def record(self, event: ChatCompleted) -> None:
        day = day_of(event)
        try:
            await self.seen.insert_one({"_id": event.reply_id, "day": day, "applied": False})
        except DuplicateKeyError:
            marker = await self.seen.find_one({"_id": event.reply_id})
            if marker and marker.get("applied"):
                return  # counted already
        user = await self.users.update_one(
            {"_id": f"{day}:{event.user_id}"}, {"$setOnInsert": {"day": day}}, upsert=True
        )
        usage = event.usage
        inc = {
            "messages": 2 if event.assistant_content else 1,
            "replies": 1,
            f"statuses.{event.status}": 1,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "tokens": usage.prompt_tokens + usage.completion_tokens,
            "active_users": 1 if user.upserted_id is not None else 0,
        }
        if usage.latency_ms > 0:
            inc[f"latency_hist.{bucket_of(usage.latency_ms)}"] = 1
        await self.daily.update_one(
            {"_id": day}, {"$inc": inc, "$set": {"updated_at": utcnow()}}, upsert=True
        )
        await self.seen.update_one({"_id": event.reply_id}, {"$set": {"applied": True}})

    async def stats(self, days: int) -> dict:
        since = (utcnow().date() - timedelta(days=days - 1)).isoformat()
        cursor = self.daily.find({"_id": {"$gte": since}}).sort("_id", 1)
        rows = [summarize(doc) for doc in await cursor.to_list(length=days + 1)]
        return {"days": rows, "totals": totals(rows)}


def summarize(doc: dict) -> dict:
    hist = doc.get("latency_hist") or {}
    return {
        "day": doc["_id"],
        "messages": doc.get("messages", 0),
        "replies": doc.get("replies", 0),
        "active_users": doc.get("active_users", 0),
        "tokens": doc.get("tokens", 0),
        "prompt_tokens": doc.get("prompt_tokens", 0),
        "completion_tokens": doc.get("completion_tokens", 0),
        "statuses": doc.get("statuses", {}),
        "latency_ms": {"p50": percentile(hist, 0.50), "p95": percentile(hist, 0.95)},
    }


def totals(rows: list[dict]) -> dict:
    return {
        name: sum(r[name] for r in rows)
        for name in ("messages", "replies", "tokens", "prompt_tokens", "completion_tokens")
    }
