"""Kafkaflow's DLQ view and replay, with dead letters written by the real shared consume loop."""

import asyncio
import json

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from alice_common.kafka import ConsumeLoop, ConsumeOptions, ensure_topics
from alice_common.settings import AliceSettings

pytestmark = pytest.mark.integration

TOKEN = "kafkaflow-test-token-long-enough-to-be-a-secret"


@pytest.fixture
def settings(infra, unique_name) -> AliceSettings:
    return AliceSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        kafka_topic_prefix=f"{infra.kafka_topic_prefix}{unique_name('dlq')}.",
        kafka_topic_partitions=2,
        service_name="dlq-test",
    )


@pytest.fixture
def kafkaflow(start_service, settings):
    return start_service(
        "kafkaflow",
        kafka_topic_prefix=settings.kafka_topic_prefix,
        alice_internal_token=TOKEN,
        poll_interval_s=1,
    )


async def _dead_letter(settings: AliceSettings, records: list[tuple[bytes, bytes]]) -> None:
    """Publish to `jobs` and let a consume loop whose handler always fails dead-letter them."""
    await ensure_topics(settings, ["jobs"])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_idempotence=True)
    await producer.start()
    dead = asyncio.Queue()

    async def refuse(record) -> None:
        raise ValueError(f"cannot handle {record.key.decode()}")

    async def on_dead_letter(record, exc) -> None:
        await dead.put(record)

    loop = ConsumeLoop(
        settings, topic="jobs", group="worker", handler=refuse, producer=producer,
        options=ConsumeOptions(max_attempts=1), on_dead_letter=on_dead_letter,
    )  # fmt: skip
    try:
        for key, value in records:
            await producer.send_and_wait(
                settings.topic("jobs"), value=value, key=key, headers=[("trace", b"t1")]
            )
        await loop.start()
        for _ in records:
            await asyncio.wait_for(dead.get(), 30)
    finally:
        await loop.stop()
        await producer.stop()


async def _read_all(servers: str, topic: str, partitions: int) -> list:
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out = []
        for _ in range(30):
            if all([await consumer.position(tp) >= end[tp] for tp in tps]):
                break
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                out.extend(batch)
        return out
    finally:
        await consumer.stop()


async def test_list_read_replay_one_then_all_without_duplicates(infra, settings, kafkaflow):
    values = [json.dumps({"job": i}).encode() for i in range(3)]
    await _dead_letter(settings, [(f"k{i}".encode(), v) for i, v in enumerate(values)])

    async with httpx.AsyncClient(base_url=kafkaflow.url, headers={"X-Internal-Token": TOKEN}) as http:
        [dlq] = [d for d in (await http.get("/api/flows/dlq")).json()["items"] if d["topic"] == "jobs.dlq"]
        assert (dlq["records"], dlq["pending_replay"], dlq["source_topic"]) == (3, 3, "jobs")

        listing = (await http.get("/api/flows/dlq/jobs.dlq", params={"limit": 10})).json()
        assert listing["total"] == 3
        records = listing["records"]
        assert sorted(r["value"]["job"] for r in records) == [0, 1, 2]  # JSON decoded
        first = records[0]
        assert first["error"] == f"ValueError: cannot handle {first['key']}"
        assert {"key": "trace", "value": "t1"} in first["headers"]
        assert first["replayed"] is False

        one = {"partition": first["partition"], "offset": first["offset"]}
        response = await http.post("/api/flows/dlq/jobs.dlq/replay", json=one)
        assert response.status_code == 200, response.text
        assert response.json()["replayed"] == 1
        again = await http.post("/api/flows/dlq/jobs.dlq/replay", json=one)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "already_replayed"

        everything = (await http.post("/api/flows/dlq/jobs.dlq/replay", json={"all": True})).json()
        assert (everything["replayed"], everything["skipped_already_replayed"]) == (2, 1)
        assert (await http.post("/api/flows/dlq/jobs.dlq/replay", json={"all": True})).json()["replayed"] == 0

        [dlq] = [d for d in (await http.get("/api/flows/dlq")).json()["items"] if d["topic"] == "jobs.dlq"]
        assert dlq["pending_replay"] == 0
        listing = (await http.get("/api/flows/dlq/jobs.dlq")).json()
        assert all(r["replayed"] for r in listing["records"])

    source = await _read_all(infra.kafka_bootstrap_servers, settings.topic("jobs"), partitions=2)
    replayed = [r for r in source if any(k == "replayed-from" for k, _ in r.headers)]
    assert sorted(r.value for r in replayed) == sorted(values)  # each exactly once
    for r in replayed:
        headers = dict(r.headers)
        assert headers["trace"] == b"t1"
        assert not any(k.startswith("dlq.") for k in headers)
        assert headers["replayed-from"].decode().startswith(settings.topic("jobs.dlq") + "/")
        assert r.key == f"k{json.loads(r.value)['job']}".encode()


async def test_replay_marks_survive_a_restart(infra, settings, kafkaflow):
    await _dead_letter(settings, [(b"a", b"plain text"), (b"b", b"\xff\xfe")])
    async with httpx.AsyncClient(base_url=kafkaflow.url, headers={"X-Internal-Token": TOKEN}) as http:
        records = (await http.get("/api/flows/dlq/jobs.dlq")).json()["records"]
        by_key = {r["key"]: r for r in records}
        assert (by_key["a"]["value"], by_key["a"]["value_encoding"]) == ("plain text", "text")
        assert by_key["b"]["value_encoding"] == "base64"
        one = {"partition": by_key["a"]["partition"], "offset": by_key["a"]["offset"]}
        assert (await http.post("/api/flows/dlq/jobs.dlq/replay", json=one)).status_code == 200
    kafkaflow.restart()
    async with httpx.AsyncClient(base_url=kafkaflow.url, headers={"X-Internal-Token": TOKEN}) as http:
        assert (await http.post("/api/flows/dlq/jobs.dlq/replay", json=one)).status_code == 409
        assert (await http.post("/api/flows/dlq/jobs.dlq/replay", json={"all": True})).json()["replayed"] == 1
    kafkaflow.restart()
    async with httpx.AsyncClient(base_url=kafkaflow.url, headers={"X-Internal-Token": TOKEN}) as http:
        assert (await http.post("/api/flows/dlq/jobs.dlq/replay", json={"all": True})).json()["replayed"] == 0


async def test_bad_requests_get_json_4xx(settings, kafkaflow):
    await ensure_topics(settings, ["jobs"])
    replay = "/api/flows/dlq/jobs.dlq/replay"
    async with httpx.AsyncClient(base_url=kafkaflow.url, headers={"X-Internal-Token": TOKEN}) as http:
        cases = [
            ("GET", "/api/flows/dlq/nothing.dlq", None, 404, "dlq_not_found"),
            ("GET", "/api/flows/dlq/jobs", None, 404, "not_a_dlq"),
            ("GET", "/api/flows/dlq/jobs.dlq?limit=0", None, 422, "validation_error"),
            ("GET", "/api/flows/dlq/jobs.dlq?partition=9", None, 404, "partition_not_found"),
            (
                "POST",
                "/api/flows/dlq/jobs.dlq/replay",
                {"partition": 0, "offset": 5},
                404,
                "record_not_found",
            ),
            (
                "POST",
                "/api/flows/dlq/jobs.dlq/replay",
                {"partition": 7, "offset": 0},
                404,
                "partition_not_found",
            ),
            ("POST", replay, {}, 422, "validation_error"),
            ("POST", replay, {"all": True, "partition": 0, "offset": 0}, 422, None),
            ("POST", replay, {"partition": -1, "offset": 0}, 422, None),
            ("POST", "/api/flows/dlq/nothing.dlq/replay", {"all": True}, 404, "dlq_not_found"),
        ]
        for method, path, body, status, code in cases:
            response = await http.request(method, path, json=body)
            assert response.status_code == status, (path, body, response.text)
            assert response.json()["error"]["code"] == (code or "validation_error"), (path, body)
        assert (
            await http.get("/api/flows/dlq/jobs.dlq", headers={"X-Internal-Token": "x"})
        ).status_code == 401
