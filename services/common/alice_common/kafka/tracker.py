"""Bookkeeping of key-ordered concurrent consumption: pure logic, no Kafka and no asyncio.

Two rules, as in Confluent's Parallel Consumer:

- records with the same key in a partition start one at a time, in offset order; records with
  different keys (or no key) may run at the same time, even within one partition;
- the safe commit position of a partition is its low-water mark: the offset of the oldest record
  that is not finished, or one past the last record seen when all are finished. Committing it
  never skips unfinished work, so a crash only ever replays records, never loses one.

Records above the low-water mark often finish before it moves (other keys are faster). The commit
point carries them (`CommitPoint.finished_above`, stored in the commit metadata), and the next
owner of the partition marks them finished on arrival (`skip_finished`) instead of replaying them.
"""

from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class _NoKey:
    """Ordering unit of a record without a key: itself alone, so it waits for nobody."""

    offset: int


@dataclass(frozen=True)
class CommitPoint:
    offset: int  # the low-water mark: where the next owner starts reading
    finished_above: frozenset[int] = frozenset()  # records after it that need no replay


class _PartitionState:
    def __init__(self) -> None:
        # Offsets at or above the low-water mark, in offset order, finished or not.
        self.outstanding: deque[int] = deque()
        self.finished: set[int] = set()  # finished offsets still in `outstanding`
        self.finished_before: set[int] = set()  # finished by a previous owner, not fetched yet
        self.next_offset: int | None = None  # one past the last offset added
        self.first_offset: int | None = None
        self.committed: CommitPoint | None = None
        self.accepting = True
        self.suspended = False  # keeps its records, starts none of them (between rebalance rounds)

    def commit_point(self) -> CommitPoint | None:
        if self.outstanding:
            return CommitPoint(self.outstanding[0], frozenset(self.finished))
        return None if self.next_offset is None else CommitPoint(self.next_offset)

    def finish(self, offset: int) -> None:
        self.finished.add(offset)
        while self.outstanding and self.outstanding[0] in self.finished:
            self.finished.discard(self.outstanding.popleft())


@dataclass(eq=False)
class Work(Generic[T]):
    """One record handed out by `WorkTracker.take`; give it back with `finish`."""

    partition: Hashable
    offset: int
    unit: Hashable
    item: T
    _state: _PartitionState = field(repr=False)


class WorkTracker(Generic[T]):
    """Which records may start now, and how far each partition may be committed.

    Lifecycle of a partition: `assign` → `add`/`take`/`finish` … → `revoke` (no new work, waiting
    records dropped, in-flight ones may still finish) → `forget`. `suspend`/`resume` hold a
    partition's records back without dropping anything (while a rebalance decides who keeps it).
    """

    def __init__(self) -> None:
        self._partitions: dict[Hashable, _PartitionState] = {}
        self._waiting: dict[Hashable, deque[Work[T]]] = {}  # per ordering unit, in offset order
        self._busy: set[Hashable] = set()  # units with a record in flight
        self._ready: deque[Hashable] = deque()  # units not busy with waiting records, FIFO

    # -- partitions ------------------------------------------------------------------------------

    def assign(self, partition: Hashable) -> None:
        """Start tracking a partition afresh (consumption resumes from its committed offset)."""
        self.forget(partition)
        self._partitions[partition] = _PartitionState()

    def revoke(self, partition: Hashable) -> None:
        """Accept no new records and drop the waiting ones; in-flight records may still finish.

        Dropped records stay unfinished, so the low-water mark never moves past them.
        """
        state = self._partitions.get(partition)
        if state is None:
            return
        state.accepting = False
        for unit in [u for u in self._waiting if u[0] == partition]:
            del self._waiting[unit]
        self._ready = deque(u for u in self._ready if u[0] != partition)

    def suspend(self, partition: Hashable) -> None:
        """Start none of the partition's records until `resume`; in-flight ones may finish."""
        state = self._partitions.get(partition)
        if state is not None:
            state.suspended = True

    def resume(self, partition: Hashable) -> None:
        state = self._partitions.get(partition)
        if state is not None:
            state.suspended = False

    def next_offset(self, partition: Hashable) -> int | None:
        """One past the last record added for the partition (where fetching should go on)."""
        state = self._partitions.get(partition)
        return None if state is None else state.next_offset

    def unsettled(self, partition: Hashable) -> bool:
        """Work in flight, or finished since the last `mark_committed`: handing the partition to
        another member now would run records twice."""
        state = self._partitions.get(partition)
        if state is None:
            return False
        if any(u[0] == partition for u in self._busy):
            return True
        point, committed = state.commit_point(), state.committed
        if point is None or point == committed:
            return False
        if committed is None:  # not committed since assigned: did anything finish at all?
            return bool(point.finished_above) or point.offset > (state.first_offset or 0)
        return point.offset > committed.offset or not point.finished_above <= committed.finished_above

    def skip_finished(self, partition: Hashable, offsets: Iterable[int]) -> None:
        """Offsets a previous owner finished (from its commit point): finished on arrival, not run."""
        state = self._partitions.get(partition)
        if state is not None:
            state.finished_before.update(offsets)

    def forget(self, partition: Hashable) -> None:
        """Drop everything about a partition; later `finish` calls for its work are ignored."""
        self.revoke(partition)
        self._partitions.pop(partition, None)
        self._busy = {u for u in self._busy if u[0] != partition}

    @property
    def partitions(self) -> list[Hashable]:
        return list(self._partitions)

    # -- records ---------------------------------------------------------------------------------

    def add(self, partition: Hashable, offset: int, key: Hashable | None, item: T) -> bool:
        """Buffer a fetched record to be run; False if it is not to be run (partition not taking
        records, offset seen already, or finished by a previous owner)."""
        state = self._partitions.get(partition)
        if state is None or not state.accepting:
            return False
        if state.next_offset is not None and offset < state.next_offset:
            return False  # already seen: a refetch after a seek
        state.outstanding.append(offset)
        if state.first_offset is None:
            state.first_offset = offset
        state.next_offset = offset + 1
        if offset in state.finished_before:
            state.finished_before.discard(offset)
            state.finish(offset)
            return False
        unit = (partition, key if key is not None else _NoKey(offset))
        queue = self._waiting.setdefault(unit, deque())
        queue.append(Work(partition, offset, unit, item, state))
        if len(queue) == 1 and unit not in self._busy:
            self._ready.append(unit)
        return True

    def take(self, limit: int) -> list[Work[T]]:
        """Up to `limit` records that may start now: the head of each idle key."""
        taken: list[Work[T]] = []
        held_back: list[Hashable] = []
        while self._ready and len(taken) < limit:
            unit = self._ready.popleft()
            if self._partitions[unit[0]].suspended:
                held_back.append(unit)
                continue
            queue = self._waiting[unit]
            work = queue.popleft()
            if not queue:
                del self._waiting[unit]
            self._busy.add(unit)
            taken.append(work)
        self._ready.extendleft(reversed(held_back))
        return taken

    def finish(self, work: Work[T]) -> bool:
        """Mark a record finished (handled or dead-lettered); its key's next record becomes ready.

        False for work of a partition that was forgotten (or forgotten and assigned again) since.
        """
        if self._partitions.get(work.partition) is not work._state:
            return False
        work._state.finish(work.offset)
        self._busy.discard(work.unit)
        if work.unit in self._waiting:
            self._ready.append(work.unit)
        return True

    # -- commits and backpressure ----------------------------------------------------------------

    def commit_points(self) -> dict[Hashable, CommitPoint]:
        """Per partition, its commit point where it changed since the last `mark_committed`."""
        points = {}
        for partition, state in self._partitions.items():
            point = state.commit_point()
            if point is not None and point != state.committed:
                points[partition] = point
        return points

    def mark_committed(self, points: dict[Hashable, CommitPoint]) -> None:
        for partition, point in points.items():
            state = self._partitions.get(partition)
            if state is not None:
                state.committed = point

    def buffered(self, partition: Hashable) -> int:
        """Records held for a partition: from its low-water mark on, finished or not."""
        state = self._partitions.get(partition)
        return len(state.outstanding) if state else 0

    def in_flight(self, partitions: Iterable[Hashable] | None = None) -> int:
        if partitions is None:
            return len(self._busy)
        wanted = set(partitions)
        return sum(1 for u in self._busy if u[0] in wanted)
