"""The fair line in front of document processing: users take turns, a waiter knows its place."""

import asyncio

import pytest
from alice_dataflow.fair_queue import FairQueue


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class Jobs:
    """Jobs that take a turn, record when they got it, and hold it until released."""

    def __init__(self, line: FairQueue) -> None:
        self.line = line
        self.started: list[str] = []
        self.positions: dict[str, list[int]] = {}
        self._done: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task] = {}

    def submit(self, owner: str, name: str) -> None:
        self._done[name] = asyncio.Event()
        self.positions[name] = []

        async def told(position: int) -> None:
            self.positions[name].append(position)

        async def job() -> None:
            async with self.line.turn(owner, told):
                self.started.append(name)
                await self._done[name].wait()

        self.tasks[name] = asyncio.create_task(job())

    async def finish(self, name: str) -> None:
        self._done[name].set()
        await self.tasks[name]
        await settle()


async def test_a_late_small_job_of_another_user_goes_before_the_backlog():
    jobs = Jobs(FairQueue(slots=1))
    for i in range(5):
        jobs.submit("alice", f"a{i}")
    await settle()
    jobs.submit("bob", "b0")
    await settle()
    assert jobs.started == ["a0"]
    assert jobs.positions["b0"] == [1]  # next, ahead of alice's four waiting documents
    assert jobs.positions["a1"][-1] == 2
    await jobs.finish("a0")
    assert jobs.started == ["a0", "b0"]
    await jobs.finish("b0")
    for i in range(1, 5):
        await jobs.finish(f"a{i}")
    assert jobs.started == ["a0", "b0", "a1", "a2", "a3", "a4"]


async def test_owners_alternate_in_rotation():
    jobs = Jobs(FairQueue(slots=1))
    jobs.submit("alice", "hold")
    await settle()
    for owner in ("alice", "bob", "carol"):
        for i in range(2):
            jobs.submit(owner, f"{owner}{i}")
    await settle()
    # Round robin, least recently served first (alice holds a turn): each owner's first
    # waiting job, then each owner's second.
    expected = ["bob0", "carol0", "alice0", "bob1", "carol1", "alice1"]
    assert [jobs.positions[n][-1] for n in expected] == [1, 2, 3, 4, 5, 6]
    await jobs.finish("hold")
    for name in expected:
        await jobs.finish(name)
    assert jobs.started == ["hold", *expected]


async def test_one_user_never_holds_more_than_its_share_of_slots():
    jobs = Jobs(FairQueue(slots=3, per_owner=1))
    for i in range(3):
        jobs.submit("alice", f"a{i}")
    await settle()
    assert jobs.started == ["a0"]  # the other two slots stay free for other users
    jobs.submit("bob", "b0")
    await settle()
    assert jobs.started == ["a0", "b0"]
    assert jobs.positions["b0"] == []  # served at once: never told a position
    await jobs.finish("a0")
    assert jobs.started == ["a0", "b0", "a1"]
    for name in ("b0", "a1", "a2"):
        await jobs.finish(name)


async def test_positions_count_down_as_the_line_moves():
    jobs = Jobs(FairQueue(slots=1))
    for i in range(4):
        jobs.submit("alice", f"a{i}")
    await settle()
    for i in range(4):
        await jobs.finish(f"a{i}")
    assert jobs.positions["a3"] == [3, 2, 1]


async def test_a_cancelled_waiter_leaves_the_line_and_those_behind_move_up():
    line = FairQueue(slots=1)
    jobs = Jobs(line)
    jobs.submit("alice", "a0")
    jobs.submit("alice", "a1")
    jobs.submit("alice", "a2")
    await settle()
    jobs.tasks["a1"].cancel()
    await settle()
    assert jobs.positions["a2"] == [2, 1]
    assert line.waiting == 1
    await jobs.finish("a0")
    await jobs.finish("a2")
    assert jobs.started == ["a0", "a2"]
    assert line.held == 0 and line.waiting == 0


async def test_a_failing_job_gives_its_turn_back():
    line = FairQueue(slots=1)
    with pytest.raises(RuntimeError):
        async with line.turn("alice"):
            raise RuntimeError("boom")
    async with line.turn("bob"):
        assert line.held == 1
    assert line.held == 0


def test_needs_a_slot():
    with pytest.raises(ValueError):
        FairQueue(slots=0)
