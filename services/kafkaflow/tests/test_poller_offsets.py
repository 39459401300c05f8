"""A topic whose offsets cannot be read (no leader while being created or deleted) must not stall or
drop the others; it keeps its previous offsets. The Kafka reader is a stub here; the real one is
exercised by tests/integration/test_kafkaflow_*.py."""

from aiokafka.errors import UnknownTopicOrPartitionError
from alice_kafkaflow.poller import KafkaPoller
from alice_kafkaflow.settings import Settings
from alice_kafkaflow.snapshot import PartitionOffsets, Snapshot, TopicState


class StubReader:
    async def beginning_offsets(self, tps):
        self._check(tps)
        return {tp: 1 for tp in tps}

    async def end_offsets(self, tps):
        self._check(tps)
        return {tp: 10 + tp.partition for tp in tps}

    @staticmethod
    def _check(tps):
        if any(tp.topic in ("being-deleted", "brand-new") for tp in tps):
            raise UnknownTopicOrPartitionError()


async def test_failing_topics_keep_previous_offsets_or_wait_for_the_next_poll():
    poller = KafkaPoller(Settings())
    poller.offsets_reader = StubReader()
    previous = TopicState("being-deleted", (PartitionOffsets(0, 3, 7),))
    poller.latest = Snapshot(taken_at=0.0, brokers=1, topics={previous.name: previous})
    described = {name: [{"partition": 0}, {"partition": 1}] for name in ("ok", "being-deleted", "brand-new")}
    described["being-deleted"] = [{"partition": 0}]

    offsets = await poller._partition_offsets(described)

    assert offsets == {("ok", 0): (1, 10), ("ok", 1): (1, 11), ("being-deleted", 0): (3, 7)}
