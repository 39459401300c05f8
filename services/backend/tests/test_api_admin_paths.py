"""The admin flow views pass a path through to kafkaflow: dot segments are refused, in every
encoding, before anything is sent (resolved on the way, they would reach another route)."""

import httpx
import pytest
from alice_common.admin_wire import FlowView, ReplayRequest, ReplayResult
from fastapi import FastAPI


@pytest.mark.parametrize(
    "path",
    ["%2e%2e/metrics", "dlq/%2E%2E/%2e%2e/internal", "dlq/%2e/x", "%252e%252e/x", "dlq/..%2fx/%2e%2e"],
)
async def test_dot_segments_in_admin_proxy_paths_are_refused(backend, path):
    auth = await backend.register()
    await backend.ctx.db["users"].update_one({"_id": auth["user"]["id"]}, {"$set": {"is_admin": True}})
    for method in ("GET", "POST"):
        url = f"/api/admin/flows/{path}"
        response = await backend.client.request(method, url, headers=backend.bearer(auth))
        assert response.status_code == 400, (method, response.text)
        assert response.json()["error"]["code"] == "invalid_path"


class FakeKafkaflow:
    """kafkaflow's API, answering with the admin wire models (alice_common.admin_wire)."""

    def __init__(self) -> None:
        self.replays: list[dict] = []
        app = FastAPI()

        @app.get("/api/flows", response_model=FlowView)
        async def flows() -> dict:
            graph = {"prefix": "x.", "taken_at": 1.0, "age_s": 0.5, "brokers": 1, "last_error": None}
            return graph | {
                "nodes": [{"kind": "service", "id": "service:backend", "name": "backend"}],
                "edges": [{"kind": "produces", "from": "service:backend", "to": "topic:chat.requests"}],
            }

        @app.post("/api/flows/dlq/{topic}/replay", response_model=ReplayResult)
        async def replay(topic: str, body: ReplayRequest) -> ReplayResult:
            self.replays.append({"topic": topic, **body.model_dump(exclude_defaults=True)})
            return ReplayResult(replayed=0, records=[])

        self.app = app


async def _admin(backend) -> dict:
    auth = await backend.register()
    await backend.ctx.db["users"].update_one({"_id": auth["user"]["id"]}, {"$set": {"is_admin": True}})
    kafkaflow, fake = backend.ctx.kafkaflow, FakeKafkaflow()
    await kafkaflow.http.aclose()
    kafkaflow.http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app), base_url="http://internal"
    )
    backend.kafkaflow = fake
    return backend.bearer(auth)


async def test_admin_views_answer_kafkaflows_wire_models_and_pass_replays_on(backend):
    headers = await _admin(backend)
    flows = await backend.client.get("/api/admin/flows", headers=headers)
    assert flows.status_code == 200, flows.text
    edge = {"from": "service:backend", "to": "topic:chat.requests", "kind": "produces"}
    assert flows.json()["edges"] == [edge]
    url = "/api/admin/flows/dlq/chat.requests.dlq/replay"
    replayed = await backend.client.post(url, headers=headers, json={"partition": 0, "offset": 3})
    assert replayed.json() == {"replayed": 0, "records": []}  # no `skipped_already_replayed` for one record
    assert backend.kafkaflow.replays == [{"topic": "chat.requests.dlq", "partition": 0, "offset": 3}]
    refused = await backend.client.post(url, headers=headers, json={"all": True, "partition": 0, "offset": 3})
    assert refused.status_code == 422 and backend.kafkaflow.replays[1:] == []
    unknown = await backend.client.get("/api/admin/flows/metrics", headers=headers)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")


async def test_admin_views_are_for_admins_only(backend):
    auth = await backend.register()
    for url in ("/api/admin/flows", "/api/admin/flows/dlq", "/api/admin/stats"):
        response = await backend.client.get(url, headers=backend.bearer(auth))
        assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
