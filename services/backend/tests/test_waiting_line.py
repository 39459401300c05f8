"""The `/v1` waiting line against a real Redis: first come first served, bounded, and nobody's
slot or turn lost to a waiter that goes away."""

import asyncio
import uuid

import pytest
from alice_backend.openai_compat import waiting
from alice_backend.openai_compat.waiting import ClientGone, Limits, LineFull, WaitedTooLong, WaitingLine
from alice_backend.ratelimit import RateLimiter
from alice_common.reply_stream import active_key

LIMITS = Limits(max_active=1, active_ttl_s=60, max_waiting=3, max_wait_s=10)


def _user() -> str:
    return f"test-{uuid.uuid4().hex}"


async def _occupy(redis, user: str, reply_id: str = "running") -> None:
    await RateLimiter(redis).start_generation(user, reply_id, 100, 100, max_active=100, active_ttl_s=60)


async def _admit_when_turn(redis, ticket, order: list[str], name: str, gone=None) -> None:
    """A waiter as `/v1` runs it: its turn, then the real admission, then leaving the line."""
    admitted = False
    try:
        while True:
            await ticket.wait_turn(gone)
            decision = await RateLimiter(redis).start_generation(
                ticket.subject, name, 100, 100, LIMITS.max_active, LIMITS.active_ttl_s
            )
            if decision.allowed:
                admitted = True
                order.append(name)
                return
    finally:
        await ticket.leave(admitted)


async def _finish(redis, user: str) -> None:
    """The orchestrator ends the oldest running reply."""
    running = await redis.zrange(active_key(user), 0, 0)
    await redis.zrem(active_key(user), running[0])


async def test_waiters_are_admitted_one_per_free_slot_in_arrival_order(redis):
    user, line, order = _user(), WaitingLine(redis), []
    await _occupy(redis, user)
    tickets = [await line.join(user, LIMITS) for _ in range(3)]
    assert [t.ahead for t in tickets] == [1, 2, 3]
    waiters = [asyncio.create_task(_admit_when_turn(redis, t, order, f"w{i}")) for i, t in enumerate(tickets)]
    for expected in (["w0"], ["w0", "w1"], ["w0", "w1", "w2"]):
        await asyncio.sleep(3 * waiting.POLL_S)
        assert order == expected[:-1]  # nobody passes while the slot is taken
        await _finish(redis, user)
        for _ in range(250):
            if order == expected:
                break
            await asyncio.sleep(0.02)
        assert order == expected
        assert await redis.zcard(active_key(user)) == 1  # never two admitted into one slot
    await asyncio.gather(*waiters)
    assert await redis.zcard(f"waitq:{user}") == 0


async def test_a_full_line_refuses_with_the_expected_wait(redis):
    user, line = _user(), WaitingLine(redis)
    await _occupy(redis, user)
    for _ in range(LIMITS.max_waiting):
        await line.join(user, LIMITS)
    with pytest.raises(LineFull) as refused:
        await line.join(user, LIMITS)
    # One waiter must have had its turn before there is room: one turn, 5 s before any measurement.
    assert refused.value.retry_after_s == waiting.DEFAULT_TURN_S


async def test_a_measured_turn_becomes_the_expected_wait(redis):
    user, line, order = _user(), WaitingLine(redis), []
    await _occupy(redis, user)
    ticket = await line.join(user, LIMITS)
    waiter = asyncio.create_task(_admit_when_turn(redis, ticket, order, "w"))
    await asyncio.sleep(1.0)
    await _finish(redis, user)
    await waiter
    full = Limits(max_active=1, active_ttl_s=60, max_waiting=0, max_wait_s=10)
    with pytest.raises(LineFull) as refused:
        await line.join(user, full)  # "w" holds the slot now
    assert 1 <= refused.value.retry_after_s <= 2  # about the one second that turn took


async def test_a_waiter_past_its_time_is_refused_with_its_remaining_wait(redis):
    user, line = _user(), WaitingLine(redis)
    await _occupy(redis, user)
    short = Limits(max_active=1, active_ttl_s=60, max_waiting=3, max_wait_s=0.5)
    ticket = await line.join(user, short)
    with pytest.raises(WaitedTooLong) as refused:
        await ticket.wait_turn()
    assert refused.value.retry_after_s == waiting.DEFAULT_TURN_S
    await ticket.leave(False)
    assert await redis.zcard(f"waitq:{user}") == 0


async def test_a_waiter_whose_client_left_gives_its_turn_to_the_next_and_takes_no_slot(redis):
    user, line, order = _user(), WaitingLine(redis), []
    await _occupy(redis, user)
    leaving, staying = await line.join(user, LIMITS), await line.join(user, LIMITS)
    client_gone = asyncio.Event()

    async def gone() -> bool:
        return client_gone.is_set()

    first = asyncio.create_task(_admit_when_turn(redis, leaving, order, "leaving", gone))
    second = asyncio.create_task(_admit_when_turn(redis, staying, order, "staying"))
    await asyncio.sleep(2 * waiting.POLL_S)
    client_gone.set()
    with pytest.raises(ClientGone):
        await first
    await _finish(redis, user)
    await asyncio.wait_for(second, 5)
    assert order == ["staying"]
    assert await redis.zrange(active_key(user), 0, -1) == ["staying"]


async def test_a_waiter_of_a_dead_backend_lapses_and_blocks_nobody(redis, monkeypatch):
    monkeypatch.setattr(waiting, "LEASE_S", 1)
    user, line, order = _user(), WaitingLine(redis), []
    await _occupy(redis, user)
    await line.join(user, LIMITS)  # never looks again: its backend died
    alive = await line.join(user, LIMITS)
    waiter = asyncio.create_task(_admit_when_turn(redis, alive, order, "alive"))
    await _finish(redis, user)
    await asyncio.wait_for(waiter, 5)
    assert order == ["alive"]
    assert await redis.zcard(f"waitq:{user}") == 0


async def test_many_concurrent_waiters_never_exceed_the_cap_and_all_get_their_turn(redis):
    user, line, order = _user(), WaitingLine(redis), []
    cap = Limits(max_active=2, active_ttl_s=60, max_waiting=8, max_wait_s=20)
    tickets = list(await asyncio.gather(*(line.join(user, cap) for _ in range(8))))
    peak = 0

    async def waiter(ticket, name: str) -> None:
        nonlocal peak
        admitted = False
        try:
            while not admitted:
                await ticket.wait_turn()
                decision = await RateLimiter(redis).start_generation(user, name, 100, 100, 2, 60)
                admitted = decision.allowed
            peak = max(peak, await redis.zcard(active_key(user)))
            order.append(name)
        finally:
            await ticket.leave(admitted)
        await asyncio.sleep(0.3)  # generating
        await redis.zrem(active_key(user), name)

    await asyncio.wait_for(asyncio.gather(*(waiter(t, f"w{i}") for i, t in enumerate(tickets))), 15)
    assert sorted(order) == sorted(f"w{i}" for i in range(8)) and peak <= 2


async def test_an_admitted_waiter_that_has_not_left_yet_is_not_counted_as_waiting(redis):
    user, line = _user(), WaitingLine(redis)
    one = Limits(max_active=1, active_ttl_s=60, max_waiting=1, max_wait_s=10)
    admitted = await line.join(user, one, "reply-a")
    await RateLimiter(redis).start_generation(user, "reply-a", 100, 100, max_active=1, active_ttl_s=60)
    # "reply-a" holds the slot and is still in the line (its backend has not removed it yet).
    waiting = await line.join(user, one, "reply-b")
    assert waiting.ahead == 1
    with pytest.raises(LineFull):
        await line.join(user, one, "reply-c")
    await admitted.leave(True)
