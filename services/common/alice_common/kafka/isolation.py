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
import itertools
import weakref
from collections.abc import AsyncIterator
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


class IsolationGate:
    """A readers-writer gate over the handlers of one process.

    `shared()` wraps an ordinary handler; `alone(priority)` a suspect. A waiting suspect stops new
    shared entries (so it cannot starve) and enters once nothing runs. Waiting suspects go in
    order of `priority` (their solo crashes so far: the least-blamed first, so that kills landing
    on whatever runs alone are spread over the suspects rather than piled on one), then arrival.
    """

    def __init__(self) -> None:
        self._running = 0
        self._alone = False
        self._waiting: list[tuple[int, int]] = []  # (priority, arrival) of suspects, sorted
        self._arrivals = itertools.count()
        self._changed: asyncio.Condition | None = None

    @property
    def running(self) -> int:
        return self._running + (1 if self._alone else 0)

    @property
    def suspects_waiting(self) -> int:
        return len(self._waiting)

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        changed = self._condition()
        async with changed:
            await changed.wait_for(lambda: not self._alone and not self._waiting)
            self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            await self._notify()

    @asynccontextmanager
    async def alone(self, priority: int = 0) -> AsyncIterator[None]:
        changed = self._condition()
        ticket = (priority, next(self._arrivals))
        async with changed:
            self._waiting.append(ticket)
            self._waiting.sort()
            try:
                await changed.wait_for(
                    lambda: not self._alone and self._running == 0 and self._waiting[0] == ticket
                )
            except BaseException:
                self._waiting.remove(ticket)
                changed.notify_all()
                raise
            self._waiting.remove(ticket)
            self._alone = True
        try:
            yield
        finally:
            self._alone = False
            await self._notify()

    async def _notify(self) -> None:
        changed = self._condition()
        # Shielded: a cancelled handler must still wake the others, or the gate stays shut.
        await asyncio.shield(self._notify_locked(changed))

    @staticmethod
    async def _notify_locked(changed: asyncio.Condition) -> None:
        async with changed:
            changed.notify_all()


_gates: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, IsolationGate]" = weakref.WeakKeyDictionary()


def process_gate() -> IsolationGate:
    """The gate shared by every consume loop of this process (one per event loop: a service runs
    one; tests start a fresh loop per test)."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = IsolationGate()
    return gate
