import asyncio
import itertools
import time

from alice_orchestrator.chat.token_coalescer import TokenCoalescer


class RecordingStream:
    def __init__(self, delay_s: float = 0.0):
        self.events: list[tuple[float, str, dict]] = []
        self.delay_s = delay_s

    async def add(self, event: str, data: dict) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.events.append((time.monotonic(), event, data))
        return str(len(self.events))


async def test_first_delta_goes_out_immediately_then_at_most_one_write_per_interval():
    stream = RecordingStream()
    coalescer = TokenCoalescer(stream, flush_interval_s=0.020)
    started = time.monotonic()
    sent = []
    for i in range(300):  # a token every ~1 ms for ~0.3 s
        delta = f"t{i} "
        sent.append(delta)
        coalescer.add(delta)
        await asyncio.sleep(0.001)
    await coalescer.close()
    elapsed = time.monotonic() - started

    times = [t for t, _, _ in stream.events]
    assert times[0] - started < 0.010, "the first token must not wait for the interval"
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.019
    # One write per 20 ms at most (however slow this machine is): far fewer writes than tokens.
    assert len(stream.events) <= elapsed / 0.020 + 2
    assert len(stream.events) < 300 / 3
    assert "".join(d["delta"] for _, _, d in stream.events) == "".join(sent) == coalescer.content


async def test_slow_writes_still_lose_nothing_and_keep_order():
    stream = RecordingStream(delay_s=0.03)
    coalescer = TokenCoalescer(stream, flush_interval_s=0.020)
    for i in range(50):
        coalescer.add(str(i) + ",")
        await asyncio.sleep(0.002)
    await coalescer.close()
    assert "".join(d["delta"] for _, _, d in stream.events) == "".join(f"{i}," for i in range(50))


async def test_empty_deltas_are_not_written():
    stream = RecordingStream()
    coalescer = TokenCoalescer(stream)
    coalescer.add("")
    await coalescer.close()
    assert stream.events == []
    assert coalescer.content == ""
