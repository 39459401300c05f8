"""Token deltas into a reply's stream (the protocol is `alice_common.reply_stream`), coalesced:
the first delta goes out at once (time to first token matters most), later ones are buffered so
Redis sees at most one token XADD per `flush_interval` per reply.
"""

import asyncio
import time

from alice_common.reply_stream import TOKEN, ReplyStream


class TokenCoalescer:
    """Buffers deltas and writes them as one `token` event at most once per interval.

    `add` never awaits, so the task reading the model can be cancelled (a stop request) at any
    time without interrupting an XADD; a single writer task owns all writes to the stream.
    """

    def __init__(self, stream: ReplyStream, flush_interval_s: float = 0.020):
        self.stream = stream
        self.interval = flush_interval_s
        self.buffer: list[str] = []
        self.text: list[str] = []  # everything written, for the stored message
        self.last_flush = float("-inf")
        self.writes = 0
        self.first_write_at: float | None = None  # time.time() of the first token's XADD
        self._writer: asyncio.Task | None = None

    @property
    def content(self) -> str:
        return "".join(self.text)

    def add(self, delta: str) -> None:
        if not delta:
            return
        self.buffer.append(delta)
        if self._writer is None or self._writer.done():
            if self._writer is not None and self._writer.exception() is not None:
                return  # the failure surfaces from close()
            self._writer = asyncio.create_task(self._write_pending())

    async def _write_pending(self) -> None:
        while self.buffer:
            wait = self.last_flush + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            delta = "".join(self.buffer)
            self.buffer.clear()
            self.text.append(delta)
            self.last_flush = time.monotonic()
            self.writes += 1
            await self.stream.add(TOKEN, {"delta": delta})
            if self.first_write_at is None:
                self.first_write_at = time.time()

    async def close(self) -> None:
        """Write what is left; after this, `content` equals the concatenation of the deltas sent."""
        if self._writer is not None:
            await self._writer
        if self.buffer:
            self._writer = asyncio.create_task(self._write_pending())
            await self._writer
