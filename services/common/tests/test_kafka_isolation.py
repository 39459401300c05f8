"""Crash attribution (pure logic, no broker): the verdict on a delivered record and the gate that
makes a suspect run alone."""

import asyncio

import pytest
from alice_common.kafka.isolation import Deliveries, IsolationGate, Verdict, crash_verdict, process_gate


@pytest.mark.parametrize(
    ("deliveries", "solo_crashes", "verdict"),
    [
        (1, 0, Verdict.RUN),  # first delivery
        (2, 0, Verdict.RUN_ALONE),  # in flight in one crash, beside whatever else ran
        (9, 0, Verdict.RUN_ALONE),  # in flight in many crashes: still never blamed for them
        (3, 1, Verdict.RUN_ALONE),
        (4, 2, Verdict.RUN_ALONE),
        (4, 3, Verdict.DEAD_LETTER),  # crashed the process alone max_solo_crashes times
        (1, 3, Verdict.DEAD_LETTER),  # a stale delivery count does not wipe the evidence
    ],
)
def test_only_crashes_while_alone_count_against_a_record(deliveries, solo_crashes, verdict):
    assert crash_verdict(Deliveries(deliveries, solo_crashes), max_solo_crashes=3) is verdict


async def _hold(gate_cm, events: list, name: str, release: asyncio.Event) -> None:
    async with gate_cm:
        events.append(f"{name} in")
        await release.wait()
        events.append(f"{name} out")


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_suspect_waits_for_running_handlers_and_nothing_new_starts_while_it_runs():
    gate = IsolationGate()
    events: list[str] = []
    first, second, suspect, late = (asyncio.Event() for _ in range(4))
    tasks = [
        asyncio.create_task(_hold(gate.shared(), events, "a", first)),
        asyncio.create_task(_hold(gate.shared(), events, "b", second)),
    ]
    await _settle()
    tasks.append(asyncio.create_task(_hold(gate.alone(gate.queue()), events, "suspect", suspect)))
    await _settle()
    tasks.append(asyncio.create_task(_hold(gate.shared(), events, "late", late)))
    await _settle()
    assert events == ["a in", "b in"]  # the suspect waits; the late one waits behind it
    assert gate.suspects_waiting == 1
    first.set()
    await _settle()
    assert events == ["a in", "b in", "a out"]  # still one running: the suspect waits on
    second.set()
    await _settle()
    assert events[-1] == "suspect in" and gate.running == 1  # alone
    late.set()  # ready to go, but not let in while the suspect runs
    await _settle()
    assert "late in" not in events
    suspect.set()
    await asyncio.gather(*tasks)
    assert events[-4:] == ["suspect in", "suspect out", "late in", "late out"]
    assert gate.running == 0 and gate.suspects_waiting == 0


async def test_suspects_run_one_at_a_time_the_least_blamed_first():
    gate = IsolationGate()
    events: list[str] = []
    blocker = asyncio.Event()
    go = asyncio.Event()
    tasks = [asyncio.create_task(_hold(gate.shared(), events, "running", blocker))]
    await _settle()
    for name, crashes in [("twice", 2), ("never", 0), ("once", 1), ("never-2", 0)]:
        tasks.append(asyncio.create_task(_hold(gate.alone(gate.queue(priority=crashes)), events, name, go)))
        await _settle()
    go.set()
    blocker.set()
    await asyncio.gather(*tasks)
    assert events == [
        "running in", "running out",
        "never in", "never out", "never-2 in", "never-2 out",
        "once in", "once out", "twice in", "twice out",
    ]  # fmt: skip


async def test_a_handler_that_turns_out_a_suspect_queues_before_it_leaves_the_shared_side():
    # The consume loop counts a delivery inside `shared()` and only then knows it has a suspect:
    # queueing before leaving keeps the gate from looking idle to a more-blamed suspect.
    gate = IsolationGate()
    order: list[str] = []

    async def counted_then_suspect(name: str, priority: int, count_s: float) -> None:
        async with gate.shared():
            await asyncio.sleep(count_s)  # the store round trip
            ticket = gate.queue(priority)
        async with gate.alone(ticket):
            order.append(name)
            await asyncio.sleep(0.01)

    await asyncio.gather(
        counted_then_suspect("blamed twice", 2, 0.0),
        counted_then_suspect("blamed once", 1, 0.01),
        counted_then_suspect("never blamed", 0, 0.02),
    )
    assert order == ["never blamed", "blamed once", "blamed twice"]


async def test_cancelled_waiters_and_holders_leave_the_gate_open():
    gate = IsolationGate()
    events: list[str] = []
    hold = asyncio.Event()
    running = asyncio.create_task(_hold(gate.shared(), events, "running", hold))
    await _settle()
    waiting_suspect = asyncio.create_task(_hold(gate.alone(gate.queue()), events, "suspect", asyncio.Event()))
    await _settle()
    waiting_shared = asyncio.create_task(_hold(gate.shared(), events, "next", asyncio.Event()))
    await _settle()
    waiting_suspect.cancel()  # e.g. its partition was revoked while it waited
    await _settle()
    assert events == ["running in", "next in"] and gate.suspects_waiting == 0
    running.cancel()
    waiting_shared.cancel()
    await asyncio.gather(running, waiting_shared, waiting_suspect, return_exceptions=True)
    assert gate.running == 0
    alone_holder = asyncio.create_task(_hold(gate.alone(gate.queue()), events, "alone", asyncio.Event()))
    await _settle()
    alone_holder.cancel()
    await asyncio.gather(alone_holder, return_exceptions=True)
    async with asyncio.timeout(1):
        async with gate.shared():
            pass  # open again


async def test_one_gate_per_process_event_loop():
    assert process_gate() is process_gate()
