"""Model instances (or a server's slots) handed out replies first, each class first come, first
served, with every waiting reply's place in line.

A request that finds an instance free takes it at once and hears nothing. A reply that has to wait
is told its position among the waiting replies (1 = next) before it waits and again each time the
position changes: when someone ahead gets an instance or gives up waiting (a stop).

Chores (titles, anything no person is waiting on) come after every waiting reply. Where there are
several instances, a chore also leaves one free for a reply that may arrive meanwhile, and chores
hold at most one instance at a time: a reply then waits only when every instance is busy, and never
for a chore that started after it. With a single instance a chore simply takes its turn after the
replies (it cannot be interrupted, so it may still hold the instance when a reply arrives).

Positions are those of this process: each orchestrator process has its own line.
Runs on one event loop; `release` is called there too (never from a model thread).

Instances may come and go (the inference service's pods, `add` and `remove`): a removed instance
that is busy is not handed out again once released. The line may be empty for a while; waiting
requests are served as soon as an instance is added.
"""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Told the request's 1-based place in line; awaited, so a write it starts lands before the next one.
OnPosition = Callable[[int], Awaitable[None]]


class _Waiter(Generic[T]):
    __slots__ = ("error", "granted", "instance", "moved")

    def __init__(self) -> None:
        self.granted = False
        self.instance: T | None = None
        self.error: BaseException | None = None
        self.moved = asyncio.Event()


class InstanceQueue(Generic[T]):
    def __init__(self, instances: list[T]):
        self._free: deque[T] = deque(instances)
        self._size = len(instances)  # free and busy
        self._removed: set[int] = set()  # id() of busy instances that must not come back
        self._replies: list[_Waiter[T]] = []
        self._chores: list[_Waiter[T]] = []
        self._held_by_chores: set[int] = set()  # id() of the instances chores hold
        self._chore_limit = 1

    @property
    def waiting(self) -> int:
        """How many requests wait for an instance."""
        return len(self._replies) + len(self._chores)

    @property
    def size(self) -> int:
        """How many instances there are, free or busy."""
        return self._size

    @property
    def busy(self) -> int:
        return self._size - len(self._free)

    @property
    def _keep_free_for_replies(self) -> int:
        return 1 if self._size > 1 else 0

    def add(self, instances: list[T]) -> None:
        """New instances, handed out at once to whoever waits."""
        self._free.extend(instances)
        self._size += len(instances)
        self._hand_out()

    def remove(self, instances: list[T]) -> None:
        """Instances that are gone: free ones leave now, busy ones when they are released."""
        for instance in instances:
            if instance in self._free:
                self._free.remove(instance)
            else:
                self._removed.add(id(instance))
            self._size -= 1

    def _chore_may_start(self) -> bool:
        return (
            not self._replies
            and len(self._held_by_chores) < self._chore_limit
            and len(self._free) > self._keep_free_for_replies
        )

    def _take(self, chore: bool) -> T:
        instance = self._free.popleft()
        if chore:
            self._held_by_chores.add(id(instance))
        return instance

    async def acquire(self, on_position: OnPosition | None = None, *, chore: bool = False) -> T:
        """An instance, once every earlier request of its class (and, for a chore, every waiting
        reply) has had one. Cancelling the wait leaves the line (those behind move up); an
        instance granted at the moment of cancelling is passed on."""
        line = self._chores if chore else self._replies
        if not line and (self._chore_may_start() if chore else bool(self._free)):
            return self._take(chore)
        waiter: _Waiter[T] = _Waiter()
        line.append(waiter)
        reported = 0
        try:
            while True:
                waiter.moved.clear()
                if waiter.granted:
                    return waiter.instance  # type: ignore[return-value]
                if waiter.error is not None:
                    raise waiter.error
                position = line.index(waiter) + 1
                if position != reported and on_position is not None:
                    reported = position
                    await on_position(position)  # a change meanwhile sets `moved`: not missed
                await waiter.moved.wait()
        except BaseException:
            if waiter.granted:
                self.release(waiter.instance)  # type: ignore[arg-type]
            else:
                self._leave(line, waiter)
            raise

    def fail_waiting(self, error: BaseException) -> None:
        """Every waiting request gets `error` instead of an instance (none is left to wait for)."""
        for line in (self._replies, self._chores):
            for waiter in line:
                waiter.error = error
                waiter.moved.set()
            line.clear()

    def release(self, instance: T) -> None:
        """Give the instance back: to the first waiting reply, else to a chore if it may start."""
        self._held_by_chores.discard(id(instance))
        if id(instance) in self._removed:
            self._removed.discard(id(instance))
        else:
            self._free.append(instance)
        self._hand_out()

    def _hand_out(self) -> None:
        replies_moved = False
        while self._free and self._replies:
            self._grant(self._replies.pop(0), self._take(chore=False))
            replies_moved = True
        while self._chores and self._chore_may_start():
            self._grant(self._chores.pop(0), self._take(chore=True))
            for waiter in self._chores:
                waiter.moved.set()
        if replies_moved:
            for waiter in self._replies:
                waiter.moved.set()

    @staticmethod
    def _grant(waiter: _Waiter[T], instance: T) -> None:
        waiter.granted, waiter.instance = True, instance
        waiter.moved.set()

    def _leave(self, line: list[_Waiter[T]], waiter: _Waiter[T]) -> None:
        if waiter not in line:
            return  # failed by `fail_waiting`: already out of the line
        index = line.index(waiter)
        del line[index]
        for behind in line[index:]:
            behind.moved.set()
        if line is self._replies and not self._replies:
            self._hand_out()  # the last waiting reply left: a chore may go now
