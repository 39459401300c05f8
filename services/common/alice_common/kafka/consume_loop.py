"""ConsumeLoop: at-least-once, key-ordered concurrent consumption of one topic by one group.

The ordering and commit rules live in `WorkTracker` (pure logic); this module wires them to
aiokafka: fetching with backpressure, running handlers with retries and a dead-letter topic,
committing low-water marks, rebalances and graceful shutdown.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition

from alice_common.events import Event
from alice_common.kafka import metrics, offset_map
from alice_common.kafka.dead_letter import publish_dead_letter
from alice_common.kafka.failures import (
    DeliveryCounter,
    DeliveryLimitExceeded,
    PermanentError,
    Unavailable,
    UndecodableEvent,
    backoff_s,
)
from alice_common.kafka.handover import HandoverAssignor, Holdings
from alice_common.kafka.isolation import Deliveries, IsolationGate, Verdict, crash_verdict, process_gate
from alice_common.kafka.options import ConsumeOptions
from alice_common.kafka.tracker import Work, WorkTracker
from alice_common.settings import AliceSettings
from alice_common.topics import Topic

log = logging.getLogger(__name__)

Handler = Callable[[ConsumerRecord], Awaitable[None]]
EventHandler = Callable[[Any, ConsumerRecord], Awaitable[None]]  # (decoded event, its record)
DeadLetterCallback = Callable[[ConsumerRecord, BaseException], Awaitable[None]]
CommitObserver = Callable[[dict[TopicPartition, int]], None]

FETCH_TIMEOUT_MS = 100
FAILURE_PAUSE_S = 1.0
CANCEL_GRACE_S = 1.0
COMMITTED_LOOKUP_TIMEOUT_S = 5.0
DEFAULT_OPTIONS = ConsumeOptions()


class ConsumeLoop:
    """Consume `settings.topic(topic)` as group `settings.group(group)`.

    `topic` is a registry topic (`alice_common.topics`): `group` must be one of its declared
    consumers and records are decoded as its `event_type`. A bare name (a test's own topic) takes
    an optional `event_type`. The tuning (the numbers below) is one `ConsumeOptions` object.

    - At-least-once: offsets are committed only up to the oldest unfinished record per partition.
    - Same key → strictly in offset order; different keys → concurrently, up to `max_concurrency`
      handlers in total, even within one partition.
    - With an event type, each record is decoded once, here, and the handler is called as
      `handler(event, record)`; a record that is not a valid event of that type is dead-lettered
      at once, as a `decode_error` (`UndecodableEvent` unless the caller names its own). Without
      it the handler gets the raw record.
    - A handler that raises `PermanentError` is dead-lettered at once; any other exception is
      retried up to `max_attempts` times, pausing `retry_backoff_s` doubling up to
      `retry_max_backoff_s`, with jitter; then the record goes to `<topic>.dlq` with the error in
      its headers, `on_dead_letter(record, exc)` is awaited, and the record counts as finished.
    - A handler that raises `Unavailable` (a dependency of this replica cannot be reached) is
      retried with the same pauses without spending an attempt, until `unavailable_give_up_s` has
      passed since its first `Unavailable` failure; then it is dead-lettered as above. Meanwhile
      its key waits and its partition's commits stop at it: a stop or revoke gives it back
      uncommitted, so a healthy replica handles it.
    - With a `delivery_counter`, deliveries are counted outside the process: a record that was in
      flight when the process died is a suspect and runs alone (`kafka/isolation.py`: every loop
      of the process shares `isolation_gate`); one that crashed the process while alone
      `max_solo_crashes` times is dead-lettered with `DeliveryLimitExceeded`. Loops without a
      counter still respect the gate, so that a suspect really runs alone.
    - A partition holding `max_buffered_per_partition` records is paused until half are done.
    - `stop()`: stop fetching, give in-flight handlers `drain_timeout_s`, abandon the rest
      uncommitted, commit, flush the producer (owned by the caller, not stopped), stop the consumer.
    - Rebalances hand partitions over cooperatively (`kafka/handover.py`): a partition that stays
      with this member keeps its running work and its buffered records; one that moves is first
      drained here (in-flight work gets `revoke_timeout_s`, then is cancelled uncommitted), then
      committed, and only then given to its new owner.
    - Each commit also records (in its metadata) the records after the low-water mark that are
      finished already, so the next owner of the partition does not run them again.

    `on_commit(offsets)` is called synchronously just before each commit (tests, auditing).
    """

    def __init__(
        self,
        settings: AliceSettings,
        topic: Topic | str,
        group: str,
        handler: Handler | EventHandler,
        producer: AIOKafkaProducer,
        *,
        options: ConsumeOptions = DEFAULT_OPTIONS,
        event_type: type[Event] | None = None,
        decode_error: type[PermanentError] = UndecodableEvent,
        on_dead_letter: DeadLetterCallback | None = None,
        delivery_counter: DeliveryCounter | None = None,
        isolation_gate: IsolationGate | None = None,
        on_commit: CommitObserver | None = None,
    ) -> None:
        if isinstance(topic, Topic):
            if group not in topic.groups:
                raise ValueError(f"group {group!r} is not a consumer of {topic.name} in alice_common.topics")
            if event_type is not None and event_type is not topic.event_type:
                raise ValueError(
                    f"{topic.name} carries {topic.event_type.__name__}, not {event_type.__name__}"
                )
            topic, event_type = topic.name, topic.event_type
        self.settings = settings
        self.topic = settings.topic(topic)
        self.group = settings.group(group)
        self.handler = handler
        self.producer = producer
        self.options = options
        self.event_type = event_type
        self.decode_error = decode_error
        self.on_dead_letter = on_dead_letter
        self.delivery_counter = delivery_counter
        self._gate = isolation_gate  # the process's own by default, taken in start()
        self.on_commit = on_commit

        self._tracker: WorkTracker[ConsumerRecord] = WorkTracker()
        self._tasks: dict[Work[ConsumerRecord], asyncio.Task[bool]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None  # reads commit metadata on assignment
        self._held: set[TopicPartition] = set()  # paused: commit metadata being read, or releasing
        self._releasing: set[TopicPartition] = set()
        self._release_tasks: set[asyncio.Task[None]] = set()
        self._assignor = HandoverAssignor(self._holdings)
        self._fetching: asyncio.Task[None] | None = None
        self._commit_lock = asyncio.Lock()
        self._joined = False
        self._stopping = False
        self._labels = (self.topic, self.group)

    # -- public ----------------------------------------------------------------------------------

    @property
    def assigned(self) -> bool:
        """Running and a member of the group. The assignment may be empty: more replicas than
        partitions is a healthy state, so readiness must not depend on owning a partition."""
        return self._joined and not self._stopping and self._fetching is not None

    @property
    def partitions(self) -> set[TopicPartition]:
        return set(self._consumer.assignment()) if self._consumer and not self._stopping else set()

    @property
    def buffered(self) -> dict[TopicPartition, int]:
        """Records held per partition: from its low-water mark on, finished or not."""
        return {p: self._tracker.buffered(p) for p in self._tracker.partitions}

    async def start(self) -> None:
        config: dict[str, Any] = dict(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.group,
            client_id=f"{self.settings.service_name}-{self.group}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # a new group reads from the start: no event is skipped
            partition_assignment_strategy=(self._assignor,),
        )
        config.update(self.options.consumer_config)
        admin = AIOKafkaAdminClient(
            bootstrap_servers=config["bootstrap_servers"], client_id=f"{config['client_id']}-admin"
        )
        consumer = AIOKafkaConsumer(**config)
        consumer.subscribe([self.topic], listener=_RebalanceListener(self))
        self._admin, self._consumer = admin, consumer  # before start(): the listener may run during it
        try:
            await admin.start()
            await consumer.start()
        except BaseException:
            await consumer.stop()
            await admin.close()
            self._admin = self._consumer = None
            raise
        if self._gate is None:
            self._gate = process_gate()
        self._fetching = asyncio.create_task(self._fetch_loop(), name=f"consume {self.topic}")

    async def stop(self) -> None:
        if self._consumer is None or self._stopping:
            return
        self._stopping = True
        consumer = self._consumer
        if self._fetching is not None:
            await self._fetching
        consumer.pause(*consumer.assignment())
        for partition in self._tracker.partitions:
            self._tracker.revoke(partition)  # records not started yet are abandoned
        await self._drain(list(self._tasks.values()), self.options.drain_timeout_s)
        if self._release_tasks:
            await asyncio.wait(list(self._release_tasks), timeout=CANCEL_GRACE_S)
        await self._commit()
        await self.producer.flush()
        await consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        log.info("consume loop stopped", extra={"topic": self.topic, "group": self.group})

    # -- fetching and dispatching ----------------------------------------------------------------

    async def _fetch_loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        next_commit = time.monotonic() + self.options.commit_interval_s
        while not self._stopping:
            try:
                self._apply_backpressure(consumer)
                batches = await consumer.getmany(
                    timeout_ms=FETCH_TIMEOUT_MS, max_records=self.options.max_buffered_per_partition
                )
                for partition, records in batches.items():
                    for record in records:
                        self._tracker.add(partition, record.offset, record.key, record)
                self._dispatch()
                if time.monotonic() >= next_commit:
                    await self._commit()
                    next_commit = time.monotonic() + self.options.commit_interval_s
            except Exception:
                # Keep consuming through broker hiccups; the error is logged, never swallowed silently.
                log.exception("consume loop iteration failed", extra={"topic": self.topic})
                await asyncio.sleep(FAILURE_PAUSE_S)

    def _apply_backpressure(self, consumer: AIOKafkaConsumer) -> None:
        paused = consumer.paused()
        tracked = set(self._tracker.partitions)  # a released partition stays paused till it moves
        for partition in (consumer.assignment() & tracked) - self._held:
            held = self._tracker.buffered(partition)
            if partition not in paused and held >= self.options.max_buffered_per_partition:
                consumer.pause(partition)
            elif partition in paused and held <= self.options.max_buffered_per_partition // 2:
                consumer.resume(partition)

    def _dispatch(self) -> None:
        for work in self._tracker.take(self.options.max_concurrency - len(self._tasks)):
            task = asyncio.create_task(self._process(work.item))
            self._tasks[work] = task
            task.add_done_callback(lambda done, work=work: self._on_done(work, done))

    def _on_done(self, work: Work[ConsumerRecord], task: asyncio.Task[bool]) -> None:
        del self._tasks[work]
        if task.cancelled():
            return  # abandoned: stays unfinished, so it is never committed and will be redelivered
        if task.exception() is not None:
            log.error("record processing crashed", exc_info=task.exception())
            return
        self._tracker.finish(work)
        self._dispatch()
        if not self._stopping and self._consumer is not None:
            self._apply_backpressure(self._consumer)  # resume a paused partition without delay

    # -- one record ------------------------------------------------------------------------------

    async def _process(self, record: ConsumerRecord) -> bool:
        """Handle with retries, dead-letter on exhaustion; True once the record is finished."""
        assert self._gate is not None
        metrics.IN_FLIGHT.labels(*self._labels).inc()
        try:
            if self.delivery_counter is None:
                async with self._gate.shared():
                    await self._handle_with_retries(record)
            else:
                await self._process_counted(record, self._gate)
            return True
        finally:
            metrics.IN_FLIGHT.labels(*self._labels).dec()

    async def _process_counted(self, record: ConsumerRecord, gate: IsolationGate) -> None:
        # A delivery is counted only once the record may run (inside the gate): one waiting
        # behind a suspect is not in flight, so a crash then does not make it a suspect too.
        counted = solo = False
        try:
            async with gate.shared():
                seen = await self._count_delivery(record)
                counted = True
                verdict = crash_verdict(seen, self.options.max_solo_crashes)
                if verdict is Verdict.RUN:
                    await self._handle_with_retries(record)
                elif verdict is Verdict.RUN_ALONE:
                    log.warning(
                        "%s[%d]@%d was in flight when its consumer died (%d deliveries, %d alone): suspect",
                        record.topic, record.partition, record.offset, seen.deliveries, seen.solo_crashes,
                    )  # fmt: skip
                    ticket = gate.queue(priority=seen.solo_crashes)  # in line before leaving
            if verdict is Verdict.DEAD_LETTER:
                error = DeliveryLimitExceeded(
                    f"crashed its consumer {seen.solo_crashes} times while running alone"
                    f" ({seen.deliveries - 1} deliveries without finishing)"
                )
                await self._dead_letter(record, error, seen.deliveries - 1)
            elif verdict is Verdict.RUN_ALONE:
                async with gate.alone(ticket):
                    await self._count_solo(record)
                    solo = True
                    metrics.RUN_ALONE.labels(*self._labels).inc()
                    await self._handle_with_retries(record)
        except BaseException:
            # Cancelled (shutdown, revoke) or broken: given back, not crashed. A killed process
            # never gets here, so what it counted stays as evidence.
            if counted:
                await self._give_back(record, solo)
            raise
        await self._forget_delivery(record)

    async def _count_delivery(self, record: ConsumerRecord) -> Deliveries:
        assert self.delivery_counter is not None
        return await self._until_counted(record, self.delivery_counter.begin)

    async def _count_solo(self, record: ConsumerRecord) -> None:
        assert self.delivery_counter is not None
        await self._until_counted(record, self.delivery_counter.begin_solo)

    async def _until_counted(self, record: ConsumerRecord, count):
        pause = self.options.retry_backoff_s
        while True:  # without the count a crash loop could never end: wait for the store
            try:
                return await count(self.group, record)
            except Exception as exc:
                log.warning("cannot count the delivery of %s@%d: %s", record.topic, record.offset, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, self.options.retry_max_backoff_s)

    async def _forget_delivery(self, record: ConsumerRecord) -> None:
        assert self.delivery_counter is not None
        try:
            await self.delivery_counter.end(self.group, record)
        except Exception as exc:  # a stale count only matters if the record is delivered again
            log.warning("cannot clear the delivery count of %s@%d: %s", record.topic, record.offset, exc)

    async def _give_back(self, record: ConsumerRecord, solo: bool) -> None:
        assert self.delivery_counter is not None
        try:
            await self.delivery_counter.give_back(self.group, record, solo)
        except Exception as exc:  # a stale count costs the record one run alone, no more
            log.warning("cannot give back the delivery of %s@%d: %s", record.topic, record.offset, exc)

    def _decode(self, record: ConsumerRecord) -> Event:
        assert self.event_type is not None
        try:
            return self.event_type.model_validate_json(record.value if record.value is not None else b"")
        except ValueError as exc:  # pydantic's ValidationError, also for another event type
            raise self.decode_error(f"not a valid {self.event_type.__name__}: {exc}"[:1000]) from exc

    async def _handle_with_retries(self, record: ConsumerRecord) -> None:
        if self.event_type is None:
            call = partial(self.handler, record)
        else:
            try:
                event = self._decode(record)
            except self.decode_error as exc:
                metrics.FAILED.labels(*self._labels).inc()
                log.warning(
                    "undecodable record at %s[%d]@%d: %s", record.topic, record.partition, record.offset, exc
                )
                await self._dead_letter(record, exc, 1)
                return
            call = partial(self.handler, event, record)
        attempt = runs = 0  # attempts spent (an `Unavailable` failure spends none); handler runs
        unavailable_since: float | None = None  # first `Unavailable` failure of this delivery
        while True:
            runs += 1
            started = time.perf_counter()
            try:
                await call()
            except Exception as exc:
                metrics.HANDLER_DURATION.labels(*self._labels).observe(time.perf_counter() - started)
                metrics.FAILED.labels(*self._labels).inc()
                permanent = isinstance(exc, PermanentError)
                if isinstance(exc, Unavailable) and not permanent:
                    metrics.UNAVAILABLE.labels(*self._labels).inc()
                    if unavailable_since is None:
                        unavailable_since = time.monotonic()
                    waited = time.monotonic() - unavailable_since
                    give_up = waited >= self.options.unavailable_give_up_s
                    log.warning(
                        "handler unavailable (%.0f s of %.0f s, attempt not counted) at %s[%d]@%d: %s: %s",
                        waited, self.options.unavailable_give_up_s,
                        record.topic, record.partition, record.offset, type(exc).__name__, exc,
                    )  # fmt: skip
                else:
                    attempt += 1
                    give_up = permanent or attempt >= self.options.max_attempts
                    log.warning(
                        "handler failed (attempt %d/%d%s) at %s[%d]@%d: %s: %s",
                        attempt, self.options.max_attempts, ", permanent" if permanent else "",
                        record.topic, record.partition, record.offset, type(exc).__name__, exc,
                    )  # fmt: skip
                if give_up:
                    await self._dead_letter(record, exc, runs)
                    return
                await asyncio.sleep(
                    backoff_s(runs, self.options.retry_backoff_s, self.options.retry_max_backoff_s)
                )
            else:
                metrics.HANDLER_DURATION.labels(*self._labels).observe(time.perf_counter() - started)
                metrics.PROCESSED.labels(*self._labels).inc()
                return

    async def _dead_letter(self, record: ConsumerRecord, exc: Exception, attempts: int) -> None:
        # Until the DLQ has it, the record is not finished: retry (its key waits) rather than lose it.
        pause = self.options.retry_backoff_s
        while True:
            try:
                await publish_dead_letter(self.producer, record, self.group, exc, attempts)
                break
            except Exception:
                log.exception("cannot publish to the dead-letter topic of %s; retrying", record.topic)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
        metrics.DEAD_LETTERED.labels(*self._labels).inc()
        if self.on_dead_letter is not None:
            try:
                await self.on_dead_letter(record, exc)
            except Exception:
                log.exception("on_dead_letter callback failed for %s@%d", record.topic, record.offset)

    # -- commits, draining, rebalances -----------------------------------------------------------

    async def _commit(self, among: set[TopicPartition] | None = None) -> None:
        consumer = self._consumer
        assert consumer is not None
        async with self._commit_lock:
            assignment = consumer.assignment() if among is None else among & consumer.assignment()
            points = {p: c for p, c in self._tracker.commit_points().items() if p in assignment}
            if not points:
                return
            if self.on_commit is not None:
                self.on_commit({p: c.offset for p, c in points.items()})
            try:
                await consumer.commit({p: (c.offset, offset_map.encode(c)) for p, c in points.items()})
            except KafkaError as exc:
                # E.g. a rebalance started: the next owner resumes from the previous commit.
                log.warning("commit on %s failed: %s", self.topic, exc)
                return
            self._tracker.mark_committed(points)

    async def _drain(self, tasks: list[asyncio.Task[bool]], timeout_s: float) -> None:
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        if pending:
            log.warning("abandoning %d in-flight records after %.1f s", len(pending), timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=CANCEL_GRACE_S)

    def _holdings(self) -> Holdings:
        """Sent when joining a rebalance: partitions held, and those that must not move yet."""
        tracked = self._tracker.partitions
        return Holdings(
            owned=frozenset(tracked),
            claimed=frozenset(p for p in tracked if self._tracker.unsettled(p) or p in self._releasing),
        )

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        # Eager protocol: everything is revoked, though most of it usually comes back. Start
        # nothing new and commit what is finished; running work goes on, and the assignment
        # decides (the assignor keeps claimed partitions here) what is drained.
        mine = [p for p in revoked if p in self._tracker.partitions]
        for partition in mine:
            self._tracker.suspend(partition)
        if mine:
            await self._commit(among=set(revoked))

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer
        assert consumer is not None
        tracked = set(self._tracker.partitions)
        # A partition still draining from an earlier round stays on its way out, whatever the
        # leader decided without knowing it; the rejoin after the drain moves it.
        release = (self._assignor.release | self._releasing) & assigned
        for partition in tracked - assigned:  # not claimed, so nothing runs: safe to drop
            await self._drain([t for w, t in self._tasks.items() if w.partition == partition], 0)
            self._tracker.forget(partition)
        kept = (tracked & assigned) - release
        for partition in kept:
            self._tracker.resume(partition)
            next_offset = self._tracker.next_offset(partition)
            if next_offset is not None:
                consumer.seek(partition, next_offset)  # its records up to there are tracked
        new = [p for p in assigned if p not in tracked and p not in release]
        for partition in new:
            self._tracker.assign(partition)
        self._joined = True
        log.info(
            "assigned %s (kept %d, new %d, releasing %d)",
            sorted(p.partition for p in assigned), len(kept), len(new), len(release),
            extra={"group": self.group},
        )  # fmt: skip
        consumer.pause(*release)  # pauses do not outlive an assignment
        fresh = release - self._releasing
        if fresh:
            self._releasing |= fresh
            self._held |= fresh
            task = asyncio.create_task(self._release(fresh), name=f"release {self.topic}")
            self._release_tasks.add(task)
            task.add_done_callback(self._release_tasks.discard)
        if new:
            await self._skip_finished_by_previous_owner(new)
        self._dispatch()

    async def _release(self, partitions: set[TopicPartition]) -> None:
        """Drain partitions the group gives to another member, commit them, and rejoin so that
        the next assignment hands them over."""
        try:
            for partition in partitions:
                self._tracker.revoke(partition)
            await self._drain(
                [t for w, t in self._tasks.items() if w.partition in partitions],
                self.options.revoke_timeout_s,
            )
            if self._consumer is not None:
                await self._commit(among=partitions)
        finally:
            for partition in partitions:
                self._tracker.forget(partition)
            self._releasing -= partitions
            self._held -= partitions
        if self._consumer is not None and not self._stopping:
            # No public call asks aiokafka for a rebalance; this is the one its coordinator uses.
            self._consumer._coordinator.request_rejoin()

    async def _skip_finished_by_previous_owner(self, partitions: list[TopicPartition]) -> None:
        consumer, admin = self._consumer, self._admin
        assert consumer is not None and admin is not None
        consumer.pause(*partitions)
        self._held.update(partitions)
        try:
            committed = await asyncio.wait_for(
                admin.list_consumer_group_offsets(self.group, partitions=partitions),
                COMMITTED_LOOKUP_TIMEOUT_S,
            )
            for partition, meta in committed.items():
                if partition in partitions and meta.offset >= 0:
                    self._tracker.skip_finished(partition, offset_map.decode(meta.metadata, meta.offset))
        except Exception as exc:  # only an optimisation: without it the records are replayed
            log.warning(
                "cannot read commit metadata of %s (%s); finished records may be replayed", self.group, exc
            )
        finally:
            self._held.difference_update(partitions)
            if not self._stopping:
                still_mine = consumer.assignment()
                consumer.resume(*(p for p in partitions if p in still_mine))


class _RebalanceListener(ConsumerRebalanceListener):
    def __init__(self, loop: ConsumeLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._loop._on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._loop._on_assigned(assigned)
