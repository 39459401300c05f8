"""The model instances' line: FIFO hand-out, and the positions waiting requests are told (in
order, only on change, on a finish and on someone ahead giving up)."""

import asyncio

import pytest
from alice_orchestrator.providers.instance_queue import InstanceQueue


class Waiting:
    """One request in line: records the positions it is told, holds its instance once granted."""

    def __init__(self, line: InstanceQueue, name: str):
        self.line = line
        self.name = name
        self.positions: list[int] = []
        self.task = asyncio.create_task(line.acquire(self.told))

    async def told(self, position: int) -> None:
        self.positions.append(position)

    async def instance(self) -> str:
        return await asyncio.wait_for(self.task, 2)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_free_instance_is_taken_at_once_without_a_position():
    line = InstanceQueue(["a", "b"])
    told: list[int] = []

    async def tell(position: int) -> None:
        told.append(position)

    assert await line.acquire(tell) == "a"
    assert await line.acquire(tell) == "b"
    assert told == [] and line.waiting == 0


async def test_positions_are_reported_in_order_and_move_up_on_each_finish():
    line = InstanceQueue(["model"])
    held = await line.acquire()
    second, third = Waiting(line, "second"), None
    await settle()
    third = Waiting(line, "third")
    await settle()
    assert (second.positions, third.positions) == ([1], [2])
    assert line.waiting == 2

    line.release(held)  # the first request finishes
    assert await second.instance() == "model"
    await settle()
    assert third.positions == [2, 1] and not third.task.done()

    line.release(await second.instance())
    assert await third.instance() == "model"
    assert second.positions == [1] and third.positions == [2, 1]  # written only on change
    assert line.waiting == 0


async def test_a_stopped_waiter_leaves_the_line_and_those_behind_move_up():
    line = InstanceQueue(["model"])
    held = await line.acquire()
    waiters = [Waiting(line, name) for name in ("b", "c", "d")]
    await settle()
    assert [w.positions for w in waiters] == [[1], [2], [3]]

    waiters[1].task.cancel()  # `c` is stopped while queued
    with pytest.raises(asyncio.CancelledError):
        await waiters[1].task
    await settle()
    b, d = waiters[0], waiters[2]
    assert b.positions == [1]  # ahead of the one who left: unchanged, nothing written
    assert d.positions == [3, 2]
    assert line.waiting == 2

    line.release(held)
    assert await b.instance() == "model"
    await settle()
    assert d.positions == [3, 2, 1]
    line.release(await b.instance())
    assert await d.instance() == "model"
    line.release("model")
    assert await line.acquire() == "model"  # nothing lost: the instance is free again


async def test_an_instance_granted_to_a_waiter_cancelled_meanwhile_is_passed_on():
    line = InstanceQueue(["model"])
    held = await line.acquire()
    first, second = Waiting(line, "first"), Waiting(line, "second")
    await settle()
    line.release(held)  # granted to `first`, which is cancelled before it runs again
    first.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first.task
    assert await second.instance() == "model"
    assert line.waiting == 0


async def test_a_failing_position_report_leaves_the_line():
    line = InstanceQueue(["model"])
    held = await line.acquire()

    async def broken(position: int) -> None:
        raise ConnectionError("redis is gone")

    with pytest.raises(ConnectionError):
        await line.acquire(broken)
    assert line.waiting == 0
    line.release(held)
    assert await line.acquire() == "model"


async def test_several_instances_serve_the_line_first_come_first_served():
    line = InstanceQueue(["x", "y"])
    held = [await line.acquire(), await line.acquire()]
    waiters = [Waiting(line, str(i)) for i in range(3)]
    await settle()
    assert [w.positions for w in waiters] == [[1], [2], [3]]
    line.release(held[1])
    assert await waiters[0].instance() == "y"
    line.release(held[0])
    assert await waiters[1].instance() == "x"
    await settle()
    assert waiters[2].positions == [3, 2, 1]


async def test_an_empty_line_serves_its_waiters_when_instances_are_added():
    line: InstanceQueue[str] = InstanceQueue([])
    waiters = [Waiting(line, str(i)) for i in range(2)]
    await settle()
    assert [w.positions for w in waiters] == [[1], [2]] and line.size == 0
    line.add(["x"])
    assert await waiters[0].instance() == "x"
    await settle()
    assert waiters[1].positions == [2, 1]
    line.add(["y"])
    assert await waiters[1].instance() == "y"
    assert (line.size, line.busy, line.waiting) == (2, 2, 0)


async def test_a_removed_instance_is_not_handed_out_again():
    """An inference pod that went away: its free slots leave at once, a busy one on release."""
    x, y, z = object(), object(), object()
    line: InstanceQueue[object] = InstanceQueue([x, y, z])
    busy = await line.acquire()
    assert busy is x
    line.remove([x, y])
    assert (line.size, line.busy) == (1, 0), "only z is left, and it is free"
    line.release(x)
    assert (line.size, line.busy) == (1, 0)
    assert await line.acquire() is z
    waiter = Waiting(line, "w")
    await settle()
    assert waiter.positions == [1], "x and y were not handed out"
    line.release(z)
    assert await waiter.instance() is z


async def chore(line: InstanceQueue) -> asyncio.Task:
    task = asyncio.create_task(line.acquire(chore=True))
    await settle()
    return task


async def test_a_waiting_reply_goes_before_a_chore_that_waited_longer():
    line = InstanceQueue(["model"])
    held = await line.acquire()
    title = await chore(line)
    reply = Waiting(line, "reply")
    await settle()
    assert reply.positions == [1]  # a chore ahead in time is not ahead in line

    line.release(held)
    assert await reply.instance() == "model"
    await settle()
    assert not title.done()
    line.release(await reply.instance())
    assert await asyncio.wait_for(title, 2) == "model"


async def test_with_several_slots_a_chore_leaves_one_free_for_a_reply():
    line = InstanceQueue(["slot0", "slot1"])
    first_reply = await line.acquire()
    title = await chore(line)
    assert not title.done()  # taking the last free slot would make the next reply wait

    second_reply = Waiting(line, "second")
    assert await second_reply.instance() == "slot1" and second_reply.positions == []
    line.release(first_reply)
    await settle()
    assert not title.done()  # one slot free again: still kept for replies

    line.release(await second_reply.instance())
    assert await asyncio.wait_for(title, 2) in ("slot0", "slot1")


async def test_chores_hold_one_slot_at_a_time_and_a_reply_finds_a_free_one():
    line = InstanceQueue(["s0", "s1", "s2", "s3"])
    first, second = await chore(line), await chore(line)
    assert first.done() and not second.done()
    replies = [await line.acquire() for _ in range(3)]  # every reply starts at once
    assert len(set(replies)) == 3
    line.release(first.result())
    await settle()
    assert not second.done()  # one slot free: kept for a reply
    line.release(replies[0])
    assert await asyncio.wait_for(second, 2)


async def test_a_stopped_reply_lets_a_waiting_chore_go():
    line = InstanceQueue(["model"])
    held = await line.acquire()
    reply = Waiting(line, "reply")
    title = await chore(line)
    line.release(held)  # goes to the reply
    await reply.instance()
    reply2 = Waiting(line, "reply2")
    await settle()
    reply2.task.cancel()
    await asyncio.gather(reply2.task, return_exceptions=True)
    line.release(await reply.instance())
    assert await asyncio.wait_for(title, 2) == "model"


async def test_failing_the_waiting_raises_in_each_waiter_and_leaves_the_holders_alone():
    """The inference provider's last server went away: waiting requests are told at once (and
    retried like any unavailable model) instead of waiting for a server that may never come."""
    line: InstanceQueue[str] = InstanceQueue(["x"])
    held = await line.acquire()
    waiters = [Waiting(line, str(i)) for i in range(2)]
    titles = asyncio.create_task(line.acquire(chore=True))
    await settle()
    line.fail_waiting(ConnectionError("gone"))
    for waiter in waiters:
        with pytest.raises(ConnectionError):
            await waiter.instance()
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(titles, 2)
    assert line.waiting == 0
    line.release(held)
    assert await line.acquire() == "x", "the line still works"
