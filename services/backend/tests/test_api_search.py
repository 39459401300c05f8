"""Search is rate limited per user: each call runs the embedding model in the dataflow."""


async def test_a_search_flood_is_429_with_retry_after_and_spares_the_dataflow(backend, settings):
    settings.search_rate_capacity = 5
    settings.search_rate_per_s = 0.01
    auth = await backend.register()
    statuses = []
    for i in range(12):
        response = await backend.client.get(
            "/api/search", params={"q": f"query {i}"}, headers=backend.bearer(auth)
        )
        statuses.append(response.status_code)
    assert statuses == [200] * 5 + [429] * 7
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    assert backend.dataflow.searches == 5
    other = await backend.register()  # one user's flood does not limit another
    assert (
        await backend.client.get("/api/search", params={"q": "hello"}, headers=backend.bearer(other))
    ).status_code == 200
