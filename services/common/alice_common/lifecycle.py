"""What a service started, closed in reverse order: every client and consume loop, each one even
when another failed to close, and however far the start got
(docs/decisions/0046-topic-registry-lifecycle-consume-options.md).

    async with Lifecycle() as lifecycle:
        producer = await clients.started_kafka_producer(settings)
        lifecycle.on_stop(producer.stop)
        loop = ConsumeLoop(...)
        await loop.start()
        lifecycle.on_stop(loop.stop)          # stopped before the producer
        ...

A service's lifespan does not write this by hand: `alice_common.startup` keeps one `Lifecycle` per
start (`startup.on_stop`) and closes it at shutdown, after a start that finished, failed halfway
or was cancelled. Built on `contextlib.AsyncExitStack`, which already runs every callback in
reverse order and goes on after one raises; a failing stop is logged here, not raised, so that a
broken client never hides the others' shutdown.
"""

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from types import TracebackType
from typing import Self, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

Stop = Callable[[], Awaitable[object]]


class Lifecycle:
    def __init__(self) -> None:
        self._stack = AsyncExitStack()

    def on_stop(self, stop: Stop) -> None:
        """Run `stop()` at close: after every stop registered later, before every one earlier."""
        self._stack.push_async_callback(_logged, stop)

    async def enter(self, context: AbstractAsyncContextManager[T]) -> T:
        """Enter `context` now and exit it at close, in the same order as `on_stop`."""
        return await self._stack.enter_async_context(context)

    async def aclose(self) -> None:
        """Stop everything registered, last first. Closing twice stops nothing twice."""
        await self._stack.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        return await self._stack.__aexit__(kind, exc, tb)


async def _logged(stop: Stop) -> None:
    try:
        await stop()
    except Exception:
        log.exception("shutdown step %s failed", getattr(stop, "__qualname__", stop))
