"""Crash attribution: which record is to blame when a consumer process dies.

A process that is killed (SIGKILL, the OOM killer, a native crash) runs no `except` and no
`finally`, so the only trace of the crash is a delivery count kept outside the process
(`kafka/deliveries.py`). Every record that was in flight in the dead process shows one delivery
more than it finished; any of them may have caused the crash, or none (the process was killed
from outside). So a count above one is only a *suspicion*:

- a record delivered for the first time runs beside others, as usual;
- a *suspect* (delivered before without finishing) runs ALONE: `IsolationGate.alone()` waits for
  every running handler of the process (all its consume loops share one gate) and lets nothing
  new start until the suspect is done. Just before it runs alone, the attempt is counted durably;
- a record is dead-lettered once it has crashed the process while alone `max_solo_crashes` times.

Records running or queued beside a crash are therefore never dead-lettered for it. The residual
risk is a process killed from outside while a suspect runs alone, `max_solo_crashes` times: see
docs/kafka.md, "Crash attribution".
"""

import asyncio
import bisect
import itertools
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from enum import Enum
from typing import NamedTuple


class Deliveries(NamedTuple):
    """What the counter knows about a record when it is delivered."""

    deliveries: int  # unfinished deliveries, this one included: > 1 means it was in a crash
    solo_crashes: int  # attempts alone that never finished: each one ended in a crash


class Verdict(Enum):
    RUN = "run"  # beside other records
    RUN_ALONE = "run alone"  # a suspect: nothing else of the process runs meanwhile
    DEAD_LETTER = "dead-letter"  # crashed the process alone `max_solo_crashes` times


def crash_verdict(seen: Deliveries, max_solo_crashes: int) -> Verdict:
    if seen.solo_crashes >= max_solo_crashes:
        return Verdict.DEAD_LETTER
    if seen.deliveries > 1 or seen.solo_crashes > 0:
        return Verdict.RUN_ALONE
    return Verdict.RUN


Ticket = tuple[int, int]  # (priority, arrival): a suspect's place in the queue


class IsolationGate:
    """A readers-writer gate over the handlers of one process.

    `shared()` wraps an ordinary handler; `alone(queue(priority))` a suspect. A queued suspect
    stops new shared entries (so it cannot starve) and enters once nothing runs. Suspects go in
    order of `priority` (their solo crashes so far: the least-blamed first, so that kills landing
    on whatever runs alone are spread over the suspects rather than piled on one), then arrival.
    A handler that finds out inside `shared()` that it is a suspect queues before it leaves, so
    the gate never looks idle to a more-blamed suspect while a less-blamed one is on its way.
    """

    def __init__(self) -> None:
        self._running = 0
        self._alone = False
        self._queue: list[Ticket] = []  # sorted
        self._arrivals = itertools.count()
        self._wakers: set[asyncio.Future[None]] = set()

    @property
    def running(self) -> int:
        return self._running + (1 if self._alone else 0)

    @property
    def suspects_waiting(self) -> int:
        return len(self._queue)

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        await self._until(lambda: not self._alone and not self._queue)
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            self._wake()

    def queue(self, priority: int = 0) -> Ticket:
        """Take a place in line for `alone()` (adding a waiter unblocks nobody: no wake-up)."""
        ticket = (priority, next(self._arrivals))
        bisect.insort(self._queue, ticket)
        return ticket

    @asynccontextmanager
    async def alone(self, ticket: Ticket) -> AsyncIterator[None]:
        try:
            await self._until(lambda: not self._alone and self._running == 0 and self._queue[0] == ticket)
        finally:
            self._queue.remove(ticket)  # entering, or cancelled while waiting
            self._wake()
        self._alone = True
        try:
            yield
        finally:
            self._alone = False
            self._wake()

    async def _until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            waker = asyncio.get_running_loop().create_future()
            self._wakers.add(waker)
            try:
                await waker
            finally:
                self._wakers.discard(waker)

    def _wake(self) -> None:
        """Every waiter checks its condition again (synchronous: safe in a cancelled `finally`)."""
        for waker in self._wakers:
            if not waker.done():
                waker.set_result(None)
        self._wakers.clear()


_gates: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, IsolationGate]" = weakref.WeakKeyDictionary()


def process_gate() -> IsolationGate:
    """The gate shared by every consume loop of this process (one per event loop: a service runs
    one; tests start a fresh loop per test)."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = IsolationGate()
    return gate
