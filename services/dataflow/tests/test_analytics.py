from alice_common.events import ChatCompleted, Usage
from alice_dataflow.analytics import fact_of, percentile, summarize, totals
from alice_dataflow.memory import MemoryIndexer


def event(user="u1", reply="r1", latency=800.0, assistant="hi", prompt=30, completion=12):
    return ChatCompleted(
        conversation_id="c", user_id=user, user_message_id="m1", assistant_message_id="m2", reply_id=reply,
        user_content="hello", assistant_content=assistant,
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion, latency_ms=latency),
    )  # fmt: skip


def test_nearest_rank_percentiles():
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.95) == 95
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.5) is None


def test_fact_is_keyed_by_reply_and_dated_by_the_event():
    fact = fact_of(event(reply="abc"))
    assert fact["_id"] == "abc" and fact["day"] == event().occurred_at.date().isoformat()
    assert fact["messages"] == 2
    assert fact_of(event(assistant="  "))["messages"] == 1
    assert fact_of(event(latency=0))["latency_ms"] is None


def test_day_summary():
    facts = [fact_of(event(user=f"u{i % 3}", reply=f"r{i}", latency=100.0 * (i + 1))) for i in range(20)]
    facts.append(fact_of(event(user="u9", reply="r-no-latency", latency=0)))
    row = summarize("2026-11-26", facts)
    assert row["replies"] == 21 and row["messages"] == 42
    assert row["active_users"] == 4
    assert row["tokens"] == 21 * 42 and row["prompt_tokens"] == 21 * 30
    assert row["latency_ms"] == {"p50": 1000.0, "p95": 1900.0}
    assert totals([row, row])["replies"] == 42


def test_a_day_summary_and_its_totals_are_the_stats_wire_model():
    from alice_common.admin_wire import DailyStats

    row = summarize("2026-11-26", [fact_of(event(latency=0))])
    body = {"days": [row], "totals": totals([row])}
    assert DailyStats.model_validate(body).model_dump(mode="json") == body
    assert row["latency_ms"] == {"p50": None, "p95": None}


class Recorded:
    def __init__(self) -> None:
        self.indexed: list[str] = []
        self.recorded: list[str] = []

    async def index(self, event: ChatCompleted) -> None:
        self.indexed.append(event.reply_id)

    async def record(self, event: ChatCompleted) -> None:
        self.recorded.append(event.reply_id)


async def test_an_imported_exchange_is_indexed_for_search_but_not_counted_in_analytics(monkeypatch):
    seen = Recorded()
    indexer = MemoryIndexer(weaviate=None, embedder=None, analytics=seen, deletions=None)
    monkeypatch.setattr(indexer, "index", seen.index)
    await indexer.handle(event(reply="live"), record=None)
    await indexer.handle(event(reply="imported").model_copy(update={"imported": True}), record=None)
    assert (seen.indexed, seen.recorded) == (["live", "imported"], ["live"])
