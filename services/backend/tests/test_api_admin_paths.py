"""The admin flow views pass a path through to kafkaflow: dot segments are refused, in every
encoding, before anything is sent (resolved on the way, they would reach another route)."""

import pytest


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
