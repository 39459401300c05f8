"""The backend's part of the reply path (the protocol itself is `alice_common.reply_stream`):

- `requesting`: admits a reply (send bucket, generation slot), records its metadata and `queued`
  status, publishes `ChatRequested`; one `Idempotency-Key` is accepted at most once (`once`);
- `shared_reader`: one Redis reader per process over every reply stream a client follows (`ReplyHub`);
- `sse_relay`: a reply stream as Server-Sent Events, resumable with `Last-Event-ID`;
- `stream_slots`: the per-user cap on reply streams open at once, across replicas;
- `routes`: `/api/replies/{id}/stream`, `/stop` and `/regenerate`.

Messages are sent through `routes/conversations.py`, completions through `routes/v1.py`; both
request their reply here."""
