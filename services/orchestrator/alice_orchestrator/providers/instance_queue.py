"""Model instances handed out first come, first served, with every waiter's place in line.

A request that finds an instance free takes it at once and hears nothing. One that has to wait
is told its position (1 = next) before it waits and again each time the position changes: when
someone ahead gets an instance or gives up waiting (a stop). Positions are those of this process:
each orchestrator process has its own instances and its own line.

Runs on one event loop; `release` is called there too (never from a model thread).
"""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Told the request's 1-based place in line; awaited, so a write it starts lands before the next one.
OnPosition = Callable[[int], Awaitable[None]]


class _Waiter(Generic[T]):
    __slots__ = ("granted", "instance", "moved")

    def __init__(self) -> None:
        self.granted = False
        self.instance: T | None = None
        self.moved = asyncio.Event()


class InstanceQueue(Generic[T]):
    def __init__(self, instances: list[T]):
        if not instances:
            raise ValueError("an instance queue needs at least one instance")
        self._free: deque[T] = deque(instances)
        self._waiters: list[_Waiter[T]] = []

    @property
    def waiting(self) -> int:
        """How many requests wait for an instance."""
        return len(self._waiters)

    async def acquire(self, on_position: OnPosition | None = None) -> T:
        """An instance, once every earlier request has had one. Cancelling the wait leaves the
        line (those behind move up); an instance granted at the moment of cancelling is passed on."""
        if self._free and not self._waiters:
            return self._free.popleft()
        waiter: _Waiter[T] = _Waiter()
        self._waiters.append(waiter)
        reported = 0
        try:
            while True:
                waiter.moved.clear()
                if waiter.granted:
                    return waiter.instance  # type: ignore[return-value]
                position = self._waiters.index(waiter) + 1
                if position != reported and on_position is not None:
                    reported = position
                    await on_position(position)  # a change meanwhile sets `moved`: not missed
                await waiter.moved.wait()
        except BaseException:
            if waiter.granted:
                self.release(waiter.instance)  # type: ignore[arg-type]
            else:
                self._leave(waiter)
            raise

    def release(self, instance: T) -> None:
        """Give the instance to the first waiter, or back to the free ones."""
        if not self._waiters:
            self._free.append(instance)
            return
        first = self._waiters.pop(0)
        first.granted, first.instance = True, instance
        first.moved.set()
        for waiter in self._waiters:
            waiter.moved.set()

    def _leave(self, waiter: _Waiter[T]) -> None:
        index = self._waiters.index(waiter)
        del self._waiters[index]
        for behind in self._waiters[index:]:
            behind.moved.set()
