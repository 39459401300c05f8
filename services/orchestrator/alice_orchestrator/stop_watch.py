"""Stop requests of every running generation, polled together: one `EXISTS` over all their
`cancel:{reply_id}` keys per interval, instead of one round trip per generation per interval
(50 streams at 200 ms were 250 Redis commands a second for nothing; docs/performance.md)."""

import asyncio
import logging
import weakref

import redis.asyncio as aioredis
from alice_common.reply_stream import cancel_key
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class StopWatch:
    def __init__(self, redis: aioredis.Redis, interval_s: float):
        self.redis = redis
        self.interval_s = interval_s
        self._watched: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task | None = None

    def watch(self, reply_id: str) -> asyncio.Event:
        """An event set once someone asks this reply to stop; `forget` it when the reply ends."""
        event = self._watched.setdefault(reply_id, asyncio.Event())
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll())
        return event

    def forget(self, reply_id: str) -> None:
        self._watched.pop(reply_id, None)

    async def _poll(self) -> None:
        while self._watched:
            await asyncio.sleep(self.interval_s)
            ids = [i for i, event in self._watched.items() if not event.is_set()]
            if not ids:
                continue
            try:
                if not await self.redis.exists(*(cancel_key(i) for i in ids)):
                    continue
                for reply_id in ids:  # rare: someone pressed stop; find whom
                    if await self.redis.exists(cancel_key(reply_id)) and reply_id in self._watched:
                        self._watched[reply_id].set()
            except RedisError as exc:
                # The generation's own writes fail if Redis is gone; a missed poll only delays a stop.
                log.warning("stop requests: Redis poll failed: %s", exc)


_watches: "weakref.WeakKeyDictionary[object, StopWatch]" = weakref.WeakKeyDictionary()


def stop_watch(redis: aioredis.Redis, interval_s: float) -> StopWatch:
    """The process's one watch for this Redis client."""
    watch = _watches.get(redis)
    if watch is None:
        watch = _watches[redis] = StopWatch(redis, interval_s)
    return watch
