"""The `/v1` waiting line: a request over its generation cap waits its turn instead of a 429
(docs/decisions/0065-queue-instead-of-429.md).

One line per limit subject (a user, or a key with limits of its own), in Redis so every replica
shares it:

- `waitq:{subject}`: a sorted set, ticket -> arrival number (`waitseq:{subject}`): first come,
  first served;
- `waitlease:{subject}`: ticket -> lease end. A waiter renews its lease each time it looks at
  the line; a waiter whose backend died or whose client left stops renewing and is dropped, so
  nobody waits behind it;
- `waitstat:{subject}`: the smoothed seconds one turn took (the expected wait, `Retry-After`).

A ticket holds no generation slot. Its turn comes when fewer waiters are ahead of it than slots
are free; it is then admitted like any request (`replies/requesting.py`), and leaves the line
only once admitted, so two waiters never take the same free slot. A request the web app sends
meanwhile may take a freed slot first (it does not wait: it gets its 429); the waiter then looks
again.
"""

import asyncio
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from alice_common.reply_stream import active_key

# How often a waiter looks at the line, and how long its lease lasts without a look.
POLL_S = 0.25
LEASE_S = 5
# The seconds per turn assumed before any turn was measured (a short reply on the local model).
DEFAULT_TURN_S = 5.0
# Weight of the newest measurement in the smoothed seconds per turn.
SMOOTHING = 0.3


def _keys(subject: str) -> list[str]:
    return [f"waitq:{subject}", f"waitlease:{subject}", f"waitseq:{subject}", f"waitstat:{subject}"]


# Shared by both scripts: drops waiters whose lease ended; the free generation slots.
_COMMON = """
local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function drop_lapsed(queue, leases, now)
  local lapsed = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
  for _, ticket in ipairs(lapsed) do
    redis.call('ZREM', queue, ticket)
    redis.call('ZREM', leases, ticket)
  end
end
local function free_slots(active, max_active, active_ttl, now)
  redis.call('ZREMRANGEBYSCORE', active, '-inf', now - active_ttl)
  return math.max(0, max_active - redis.call('ZCARD', active))
end
-- Waiters not yet admitted (a ticket is its reply's id: an admitted one is in the slot set until
-- it leaves the line) ahead of `ticket`, or all of them for nil; and whether `ticket` is there.
local function ahead_of(queue, active, ticket)
  local n = 0
  for _, t in ipairs(redis.call('ZRANGE', queue, 0, -1)) do
    if t == ticket then return n, true end
    if not redis.call('ZSCORE', active, t) then n = n + 1 end
  end
  return n, false
end
local function turn_s(stat)
  return tonumber(redis.call('HGET', stat, 'turn_s') or ARGV[7])
end
"""

# KEYS queue, leases, seq, stat, active; ARGV ticket, lease_s, max_waiting, max_active,
# active_ttl, key_ttl, default_turn_s -> {1, ahead, turn_s} joined, {0, over, turn_s} line full
_JOIN = (
    _COMMON
    + """
local now = now_s()
drop_lapsed(KEYS[1], KEYS[2], now)
local free = free_slots(KEYS[5], tonumber(ARGV[4]), tonumber(ARGV[5]), now)
local waiting = ahead_of(KEYS[1], KEYS[5], nil)
local over = waiting - free - tonumber(ARGV[3])
if over >= 0 then
  return {0, over, tostring(turn_s(KEYS[4]))}
end
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
return {1, math.max(0, waiting - free + 1), tostring(turn_s(KEYS[4]))}
"""
)

# KEYS queue, leases, seq, stat, active; ARGV ticket, lease_s, -, max_active, active_ttl, -,
# default_turn_s -> {-1, 0, turn_s} not in line any more, else {rank, free, turn_s}
_LOOK = (
    _COMMON
    + """
local now = now_s()
drop_lapsed(KEYS[1], KEYS[2], now)
local free = free_slots(KEYS[5], tonumber(ARGV[4]), tonumber(ARGV[5]), now)
local rank, found = ahead_of(KEYS[1], KEYS[5], ARGV[1])
if not found then
  return {-1, 0, tostring(turn_s(KEYS[4]))}
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
return {rank, free, tostring(turn_s(KEYS[4]))}
"""
)

# KEYS queue, leases, -, stat; ARGV ticket, measured turn_s ('' when none), smoothing, key_ttl
_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] ~= '' then
  local old = tonumber(redis.call('HGET', KEYS[4], 'turn_s') or ARGV[2])
  local new = old + tonumber(ARGV[3]) * (tonumber(ARGV[2]) - old)
  redis.call('HSET', KEYS[4], 'turn_s', tostring(new))
  redis.call('EXPIRE', KEYS[4], ARGV[4])
end
"""


class LineFull(Exception):
    """No room to wait: `retry_after_s` is when the line should have room again."""

    def __init__(self, retry_after_s: int):
        super().__init__(retry_after_s)
        self.retry_after_s = retry_after_s


class WaitedTooLong(LineFull):
    """The turn did not come within the bound: `retry_after_s` is the expected rest of the wait."""


class ClientGone(Exception):
    """The client closed the connection while waiting."""


@dataclass(frozen=True)
class Limits:
    max_active: int  # generation slots of the subject
    active_ttl_s: int  # as in `SlotLimits`
    max_waiting: int  # waiters beyond the free slots
    max_wait_s: float  # longest wait for a turn


def _seconds(turns: float, turn_s: float) -> int:
    return max(1, math.ceil(turns * turn_s))


class WaitingLine:
    def __init__(self, redis: aioredis.Redis):
        self._join = redis.register_script(_JOIN)
        self._look = redis.register_script(_LOOK)
        self._leave = redis.register_script(_LEAVE)

    def _args(self, subject: str, ticket: str, limits: Limits) -> tuple[list[str], list]:
        keys = [*_keys(subject), active_key(subject)]
        key_ttl = max(LEASE_S, math.ceil(limits.max_wait_s) + LEASE_S, limits.active_ttl_s)
        args = [ticket, LEASE_S, limits.max_waiting, limits.max_active, limits.active_ttl_s, key_ttl]
        return keys, [*args, DEFAULT_TURN_S]

    async def join(self, subject: str, limits: Limits, ticket: str | None = None) -> "Ticket":
        """A place at the end of the line, or `LineFull`. `ticket`: the id of the reply it admits
        (an admitted waiter no longer counts as waiting, though it has not left yet)."""
        ticket = ticket or secrets.token_hex(8)
        keys, args = self._args(subject, ticket, limits)
        joined, count, turn_s = await self._join(keys=keys, args=args)
        if not joined:
            # Room comes when `count + 1` waiters ahead have had their turn.
            raise LineFull(_seconds(int(count) + 1, float(turn_s)))
        return Ticket(self, subject, ticket, limits, int(count))

    async def _look_at(self, ticket: "Ticket") -> tuple[int, int, float]:
        keys, args = self._args(ticket.subject, ticket.id, ticket.limits)
        rank, free, turn_s = await self._look(keys=keys, args=args)
        return int(rank), int(free), float(turn_s)

    async def _leave_line(self, ticket: "Ticket", measured_turn_s: float | None) -> None:
        keys, args = self._args(ticket.subject, ticket.id, ticket.limits)
        measured = "" if measured_turn_s is None else repr(measured_turn_s)
        await self._leave(keys=keys[:4], args=[ticket.id, measured, SMOOTHING, args[5]])


class Ticket:
    """One waiter's place. `wait_turn` until admitted, then `leave` (always: `finally`)."""

    def __init__(self, line: WaitingLine, subject: str, ticket_id: str, limits: Limits, ahead: int):
        self.line = line
        self.subject = subject
        self.id = ticket_id
        self.limits = limits
        self.ahead = ahead  # waiters ahead when it joined (0: a free slot was there)
        self.joined = time.monotonic()

    async def wait_turn(
        self,
        gone: Callable[[], Awaitable[bool]] | None = None,
        tidy: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Returns when this ticket may be admitted; `WaitedTooLong` past the bound, `ClientGone`
        when `gone()`. `tidy()` runs before each look (frees slots nobody else frees). A lapsed
        lease (a stalled event loop) joins again at the end: no turn is ever taken twice."""
        deadline = self.joined + self.limits.max_wait_s
        while True:
            if tidy is not None:
                await tidy()
            rank, free, turn_s = await self.line._look_at(self)
            if rank < 0:
                rejoined = await self.line.join(self.subject, self.limits, self.id)
                self.id = rejoined.id
                continue
            if rank < free:
                return
            if time.monotonic() >= deadline:
                raise WaitedTooLong(_seconds(rank - free + 1, turn_s))
            if gone is not None and await gone():
                raise ClientGone()
            await asyncio.sleep(POLL_S)

    async def leave(self, admitted: bool) -> None:
        """Out of the line; an admitted waiter that had to wait records how long a turn took."""
        waited = time.monotonic() - self.joined
        measured = waited / self.ahead if admitted and self.ahead > 0 else None
        await self.line._leave_line(self, measured)
