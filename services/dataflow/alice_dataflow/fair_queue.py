"""Turns handed out fairly between owners (users), with every waiter's place in line.

`slots` turns may be held at once, at most `per_owner` of them by one owner. Waiting jobs sit in
one FIFO line per owner; a free turn goes to the owner served least recently (never served, or
not since its last turn ended and it left: first) among those that may take one. So one user's
hundred documents and another user's one note alternate instead of queueing in arrival order.

A waiter's place in line (1 = next) is its place in the round-robin order the rotation would
serve if every owner could take a turn: the k-th waiting job of every owner comes before the
(k+1)-th of any. It is told to the waiter (`on_position`) before it waits and each time it
changes. Positions are those of this process: each dataflow process has its own line.

Runs on one event loop.
"""

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager

OnPosition = Callable[[int], Awaitable[None]]


class _Waiter:
    __slots__ = ("granted", "moved", "owner")

    def __init__(self, owner: Hashable) -> None:
        self.owner = owner
        self.granted = False
        self.moved = asyncio.Event()


class FairQueue:
    def __init__(self, slots: int, per_owner: int = 1) -> None:
        if slots < 1 or per_owner < 1:
            raise ValueError("slots and per_owner must be ≥ 1")
        self.slots = slots
        self.per_owner = per_owner
        self._held: dict[Hashable, int] = {}  # owner → turns held
        self._lines: dict[Hashable, deque[_Waiter]] = {}  # owner → its waiters, FIFO
        self._served: dict[Hashable, int] = {}  # owner → when it last got a turn (a counter)
        self._clock = 0

    @property
    def waiting(self) -> int:
        return sum(len(line) for line in self._lines.values())

    @property
    def held(self) -> int:
        return sum(self._held.values())

    def _rotation(self) -> list[Hashable]:
        """Owners with waiters, least recently served first (ties: who queued first)."""
        return sorted(self._lines, key=lambda owner: self._served.get(owner, 0))

    def position(self, waiter: _Waiter) -> int:
        depth = self._lines[waiter.owner].index(waiter)
        ahead, before_us = 0, True
        for owner in self._rotation():
            line = self._lines[owner]
            if owner == waiter.owner:
                ahead += depth
                before_us = False
            else:
                # Every owner's first `depth` jobs come before ours; the owners before ours in
                # the rotation also get their (depth+1)-th turn first.
                ahead += min(len(line), depth + before_us)
        return ahead + 1

    @asynccontextmanager
    async def turn(self, owner: Hashable, on_position: OnPosition | None = None) -> AsyncIterator[None]:
        """Hold one turn for `owner` for the duration of the block."""
        await self._acquire(owner, on_position)
        try:
            yield
        finally:
            self._release(owner)

    async def _acquire(self, owner: Hashable, on_position: OnPosition | None) -> None:
        waiter = _Waiter(owner)
        self._lines.setdefault(owner, deque()).append(waiter)
        self._grant()
        self._tell_all()  # an arrival may go ahead of those waiting
        reported = 0
        try:
            while not waiter.granted:
                waiter.moved.clear()
                position = self.position(waiter)
                if position != reported and on_position is not None:
                    reported = position
                    await on_position(position)  # a change meanwhile sets `moved`: not missed
                    continue
                await waiter.moved.wait()
        except BaseException:
            if waiter.granted:
                self._release(owner)
            else:
                self._leave(waiter)
            raise

    def _release(self, owner: Hashable) -> None:
        self._held[owner] -= 1
        if not self._held[owner]:
            del self._held[owner]
            if owner not in self._lines:
                del self._served[owner]
        self._grant()

    def _grant(self) -> None:
        granted = False
        while self.held < self.slots:
            owner = next((o for o in self._rotation() if self._held.get(o, 0) < self.per_owner), None)
            if owner is None:
                break
            line = self._lines[owner]
            waiter = line.popleft()
            if not line:
                del self._lines[owner]
            self._held[owner] = self._held.get(owner, 0) + 1
            self._clock += 1
            self._served[owner] = self._clock
            waiter.granted = True
            waiter.moved.set()
            granted = True
        if granted:
            self._tell_all()

    def _leave(self, waiter: _Waiter) -> None:
        line = self._lines[waiter.owner]
        line.remove(waiter)
        if not line:
            del self._lines[waiter.owner]
            if waiter.owner not in self._held:
                self._served.pop(waiter.owner, None)
        self._tell_all()

    def _tell_all(self) -> None:
        for line in self._lines.values():
            for waiter in line:
                waiter.moved.set()
