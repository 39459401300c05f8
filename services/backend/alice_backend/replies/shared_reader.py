"""One Redis reader per backend process for every reply stream it relays.

Each SSE (or `/v1` streaming) client used to hold its own connection in `XREAD BLOCK` on its one
stream: 50 clients meant 50 blocked connections and one XREAD round trip per client per token
event. Here a single task issues one `XREAD BLOCK` over every stream that has a client, and hands
each client the entries after its own cursor (`Subscription`); the clients wait on memory.

A new client must not wait for the current blocking read to time out. The reader therefore also
reads this process's wake stream (`reply_stream.relay_wake_key`): a subscription that changes
what the reader should read adds one entry to it, which ends the XREAD at once. Written before
or during the read, the entry is past the reader's cursor either way: no race.

Memory per client is bounded: a client more than `buffer_limit` entries behind (a slow network)
is left out of the reads until it has caught up; its cursor stays where its buffer ends, so
nothing is lost, it is only read again later.
"""

import asyncio
import logging
import uuid

import redis.asyncio as aioredis
from alice_common.clients import reconnect_once
from alice_common.reply_stream import relay_wake_key
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

WAKE_TTL_S = 3600


def id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


class Subscription:
    """One client's view of one reply stream: the entries after `cursor`, in order."""

    def __init__(self, hub: "ReplyHub", key: str, after: str, buffer_limit: int):
        self.hub = hub
        self.key = key
        self.cursor = after  # the last entry handed to this client's buffer
        self.entries: list[tuple[str, dict]] = []
        self.error: BaseException | None = None
        self.buffer_limit = buffer_limit
        self._ready = asyncio.Event()

    @property
    def paused(self) -> bool:
        return len(self.entries) >= self.buffer_limit

    def _deliver(self, batch: list[tuple[str, dict]]) -> None:
        cursor = id_key(self.cursor)
        fresh = [(i, f) for i, f in batch if id_key(i) > cursor]
        if fresh:
            self.entries.extend(fresh)
            self.cursor = fresh[-1][0]
            self._ready.set()

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        self._ready.set()

    async def next_batch(self, timeout_s: float) -> list[tuple[str, dict]]:
        """The entries that arrived since the last call; [] when `timeout_s` passed without any.
        Raises the reader's `RedisError` if its read failed."""
        if not self.entries and self.error is None:
            try:
                async with asyncio.timeout(timeout_s):
                    await self._ready.wait()
            except TimeoutError:
                return []
        self._ready.clear()
        if self.error is not None and not self.entries:
            raise self.error
        batch, self.entries = self.entries, []
        if len(batch) >= self.buffer_limit:
            self.hub.changed()  # it was left out of the reads while full
        return batch

    def close(self) -> None:
        self.hub._unsubscribe(self)


class ReplyHub:
    def __init__(self, redis_url: str, block_s: float, batch: int = 100, buffer_limit: int = 1000):
        self.block_ms = max(1, int(block_s * 1000))
        self.batch = batch
        self.buffer_limit = buffer_limit
        # Commands other than the blocking read: EXISTS checks and wake-ups.
        # Both clients reconnect once on a broken connection, like every Redis client here: after a
        # Redis restart each pooled connection is dead, and without the retry the next read over it
        # broke off a relay mid-body. A read that still fails ends every relay (their clients resume
        # with Last-Event-ID).
        self.redis = aioredis.from_url(
            redis_url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=5,
            retry=reconnect_once(),
        )
        # The blocking read: its own connection and a read timeout that outlasts the block.
        self.instance = uuid.uuid4().hex
        self._reader = aioredis.from_url(
            redis_url,
            client_name=f"alice-relay-{self.instance}",
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=block_s + 10,
            single_connection_client=True,
            retry=reconnect_once(),
        )
        self.wake_key = relay_wake_key(self.instance)
        self._wake_cursor = "0-0"  # the key is this hub's own: anything in it is a wake-up
        self._subs: dict[str, set[Subscription]] = {}
        self._task: asyncio.Task | None = None
        self._woken = False  # a wake entry is on its way for the current read
        self._wakes: set[asyncio.Task] = set()

    def subscribe(self, key: str, after: str) -> Subscription:
        sub = Subscription(self, key, after, self.buffer_limit)
        self._subs.setdefault(key, set()).add(sub)
        self.changed()
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.key]
        # No wake-up: the reader drops the key on its next round.

    def changed(self) -> None:
        """What to read changed: start the reader, or end its current read."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        elif not self._woken:
            self._woken = True
            task = asyncio.create_task(self._wake())
            self._wakes.add(task)
            task.add_done_callback(self._wakes.discard)

    async def _wake(self) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xadd(self.wake_key, {"w": "1"}, maxlen=1, approximate=False)
                pipe.expire(self.wake_key, WAKE_TTL_S)
                await pipe.execute()
        except RedisError as exc:
            log.warning("reply hub: wake-up failed: %s", exc)  # the read ends at its timeout anyway

    def _streams(self) -> dict[str, str]:
        streams: dict[str, str] = {}
        for key, subs in self._subs.items():
            cursors = [s.cursor for s in subs if not s.paused]
            if cursors:
                streams[key] = min(cursors, key=id_key)
        return streams

    async def _run(self) -> None:
        try:
            while self._subs:
                self._woken = False
                streams = self._streams()
                streams[self.wake_key] = self._wake_cursor
                try:
                    answer = await self._reader.xread(streams, count=self.batch, block=self.block_ms)
                except RedisError as exc:
                    log.warning("reply hub: Redis read failed: %s", exc)
                    for subs in list(self._subs.values()):
                        for sub in list(subs):
                            sub._fail(exc)
                            sub.close()
                    return
                for key, batch in answer or []:
                    if key == self.wake_key:
                        self._wake_cursor = batch[-1][0]
                        continue
                    for sub in list(self._subs.get(key, ())):
                        if not sub.paused:
                            sub._deliver(batch)
        finally:
            self._task = None

    async def aclose(self) -> None:
        pending = [*self._wakes, *([self._task] if self._task is not None else [])]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._reader.aclose()
        await self.redis.aclose()
