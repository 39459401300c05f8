"""Ingestion and search benchmark for the dataflow (real MongoDB, GridFS and Weaviate).

1. Raw embedding throughput: chunks/s of `embedder.embed` alone on the benchmark's chunks.
2. Ingestion throughput: the dataflow's own `Ingestor` (read blob, extract, chunk, embed,
   write to Weaviate, progress updates in MongoDB) on a document made of the same chunks, in
   the same process with the same model; reported as chunks/s and as a ratio to (1).
3. Search latency with `--search-chunks` (default 100,000) chunks in one tenant: the hybrid
   query the search API runs (`vectorstore.search_knowledge`), p50/p99, plus p50/p99 including
   embedding the query. The 100k chunks get random unit vectors (embedding 100k chunks would
   take most of an hour on 2 cores) and 150-word texts drawn with Zipf frequencies from 20,000
   pseudo-words, so BM25 sees a natural mix of common and rare terms. Random vectors are the
   hardest case for HNSW, so these latencies are an upper bound. Vector-only and BM25-only
   latencies are printed too, to show which half costs what.

    source scripts/env.sh && $UV run --frozen python bench/ingest.py            # infra on default ports
    $UV run --frozen python bench/ingest.py --skip-ingest --keep   # search only; keep the 100k tenant
"""

import argparse
import asyncio
import random
import statistics
import time
import uuid

import numpy as np
from alice_common import clients, vectorstore
from alice_common.embeddings import BatchingEmbedder, get_embedder
from alice_common.embeddings.tokenizer import count_tokens
from alice_common.events import DocumentUploaded
from alice_dataflow.chunking import chunk_text
from alice_dataflow.documents import DocumentStore
from alice_dataflow.ingest import Ingestor
from alice_dataflow.settings import Settings
from gridfs import AsyncGridFSBucket
from weaviate.classes.data import DataObject

BENCH_TENANT = "bench-100k-zipf"
WORDS = (
    "kafka broker partition offset consumer group replica leader follower commit log segment retention "
    "compaction schema event stream topic producer latency throughput batch index vector search tenant "
    "document chunk embedding token model query score hybrid keyword semantic memory message reply user "
    "conversation analytics daily metric histogram percentile cache redis mongo weaviate cluster node pod "
    "service deploy rollout health ready probe alert dashboard graph rate lag drain replay dead letter queue"
).split()


class _NullProducer:
    async def send_and_wait(self, *args, **kwargs) -> None:
        return None


def zipf_vocabulary(size: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-words with Zipf-like frequencies (p ~ 1/rank), as in natural text: BM25 then sees
    a few very common terms and a long tail of rare ones."""
    rng = random.Random(3)
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "ber", "dan", "qua", "zen", "pol", "ix"]
    words = sorted(
        {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(size * 2)}
    )
    words = np.array(words[:size])
    rng_np = np.random.default_rng(3)
    rng_np.shuffle(words)
    weights = 1.0 / np.arange(1, len(words) + 1)
    return words, weights / weights.sum()


def make_document(n_chunks: int, settings: Settings) -> str:
    """Prose long enough to make about `n_chunks` chunks of `settings.chunk_tokens` tokens."""
    rng = random.Random(42)
    sentences = []
    target = n_chunks * (settings.chunk_tokens - settings.chunk_overlap_tokens)
    tokens = 0
    while tokens < target:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 18))).capitalize() + "."
        sentences.append(sentence)
        tokens += count_tokens(sentence)
        if len(sentences) % 6 == 0:
            sentences.append("\n\n")
    return " ".join(sentences)


NOTE_USERS = [f"bench-note-{i}" for i in range(100)]


async def _upload(store: DocumentStore, bucket, user: str, filename: str, data: bytes) -> DocumentUploaded:
    doc_id, blob_id = uuid.uuid4().hex, uuid.uuid4().hex
    await bucket.upload_from_stream_with_id(blob_id, filename, data)
    await store.register(user, doc_id, filename, "text/markdown", len(data), blob_id)
    return DocumentUploaded(
        document_id=doc_id, user_id=user, filename=filename, content_type="text/markdown",
        size=len(data), blob_id=blob_id,
    )  # fmt: skip


async def note_latency(ingestor: Ingestor, store: DocumentStore, bucket, text: str, user: str, notes: int):
    """Seconds until another user's one-line note is indexed while `user`'s document is being
    embedded, through the same `Ingestor` (as two handlers of the consume loop would call it)."""
    event = await _upload(store, bucket, user, "big.md", text.encode())
    big = asyncio.create_task(ingestor.ingest(event))
    waits: list[float] = []
    try:
        for i in range(notes):
            while not big.done():  # start each note while the big document is being embedded
                doc = await store.get(user, event.document_id)
                if doc is not None and doc["progress"] > 15:
                    break
                await asyncio.sleep(0.05)
            line = f"Note {i}: the key is under the mat.".encode()
            note = await _upload(store, bucket, NOTE_USERS[i], "note.md", line)
            started = time.perf_counter()
            await ingestor.ingest(note)
            waits.append(time.perf_counter() - started)
            if big.done():
                print(f"  (the big document finished before note {i + 1} was indexed)")
                break
            await asyncio.sleep(0.5)
    finally:
        await big
    return waits


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_ingest(settings: Settings, n_chunks: int, rounds: int, notes: int = 0) -> None:
    from alice_common.embeddings import tokenizer

    embedder = get_embedder(settings)
    text = make_document(n_chunks, settings)
    chunks = chunk_text(text, tokenizer.token_offsets, settings.chunk_tokens, settings.chunk_overlap_tokens)
    print(f"document: {len(text):,} chars -> {len(chunks)} chunks of <= {settings.chunk_tokens} tokens")
    embedder.embed(chunks[:64])  # warm-up

    raw, ingest = [], []
    mongo = clients.mongo_client(settings)
    db = mongo[settings.mongodb_database]
    weaviate = clients.weaviate_client(settings)
    await weaviate.connect()
    try:
        await vectorstore.ensure_collections(weaviate)
        store = DocumentStore(db)
        bucket = AsyncGridFSBucket(db, "uploads")
        # As in the service: document batches go through the shared, serialising batcher.
        batcher = BatchingEmbedder(embedder, max_batch=settings.embeddings_batch_size)
        ingestor = Ingestor(settings, store, bucket, weaviate, batcher, _NullProducer())
        user = uuid.uuid4().hex
        for r in range(rounds):
            started = time.perf_counter()
            for i in range(0, len(chunks), settings.ingest_batch_size):
                embedder.embed(chunks[i : i + settings.ingest_batch_size])
            raw.append(len(chunks) / (time.perf_counter() - started))

            doc_id, blob_id = uuid.uuid4().hex, uuid.uuid4().hex
            data = text.encode()
            await bucket.upload_from_stream_with_id(
                blob_id, "bench.md", data, metadata={"user_id": user, "document_id": doc_id}
            )  # as the backend stores it: the dataflow reads only its owner's blob
            await store.register(user, doc_id, "bench.md", "text/markdown", len(data), blob_id)
            event = DocumentUploaded(
                document_id=doc_id, user_id=user, filename="bench.md", content_type="text/markdown",
                size=len(data), blob_id=blob_id,
            )  # fmt: skip
            started = time.perf_counter()
            await ingestor.ingest(event)
            ingest.append(len(chunks) / (time.perf_counter() - started))
            doc = await store.get(user, doc_id)
            assert doc["status"] == "indexed" and doc["chunks"] == len(chunks), doc
            print(
                f"  round {r + 1}: raw embed {raw[-1]:7.1f} chunks/s   ingest {ingest[-1]:7.1f} chunks/s"
                f"   ratio {ingest[-1] / raw[-1]:.2f}",
                flush=True,
            )
        if notes:
            waits = await note_latency(ingestor, store, bucket, text, user, notes)
            print(
                f"note of another user while a {len(chunks)}-chunk document is embedded: indexed in "
                f"p50 {pct(waits, 0.5):.2f} s, max {max(waits):.2f} s ({len(waits)} notes)",
                flush=True,
            )
        tenants = weaviate.collections.use(vectorstore.KNOWLEDGE).tenants
        for tenant in {user, *NOTE_USERS[:notes]}:
            if await tenants.exists(vectorstore.tenant_name(tenant)):
                await tenants.remove([vectorstore.tenant_name(tenant)])
        await mongo.drop_database(settings.mongodb_database)
    finally:
        await weaviate.close()
        await mongo.close()
    # Rounds alternate raw and ingest so both see the same background load; the ratio is taken
    # per round, then the median.
    ratio = statistics.median(i / r for i, r in zip(ingest, raw, strict=True))
    print(f"raw embedding throughput   {statistics.median(raw):8.1f} chunks/s  (median of {rounds})")
    label = "ingestion throughput"
    print(f"{label:<26} {statistics.median(ingest):8.1f} chunks/s  (extract, chunk, embed, index)")
    print(f"ratio ingest/raw           {ratio:8.2f}   (median of per-round ratios; goal >= 0.8)")


async def bench_search(settings: Settings, n: int, queries: int, keep: bool) -> None:
    embedder = get_embedder(settings)
    weaviate = clients.weaviate_client(settings)
    await weaviate.connect()
    try:
        await vectorstore.ensure_collections(weaviate)
        collection = vectorstore.knowledge(weaviate, BENCH_TENANT)
        have = 0
        if await weaviate.collections.use(vectorstore.KNOWLEDGE).tenants.exists(BENCH_TENANT):
            have = (await collection.aggregate.over_all(total_count=True)).total_count or 0
        if have < n:
            await _fill(collection, have, n)
        words, p = zipf_vocabulary()
        rng = np.random.default_rng(7)
        texts = [" ".join(rng.choice(words, size=int(rng.integers(3, 9)), p=p)) for _ in range(queries)]
        for t in texts[:5]:  # warm-up
            await vectorstore.search_knowledge(weaviate, BENCH_TENANT, t, embedder.embed([t])[0], limit=10)
        only_search, end_to_end, vector_only, bm25_only = [], [], [], []
        for t in texts:
            started = time.perf_counter()
            vector = (await embedder.aembed([t]))[0]
            mid = time.perf_counter()
            hits = await vectorstore.search_knowledge(weaviate, BENCH_TENANT, t, vector, limit=10)
            done = time.perf_counter()
            assert hits
            only_search.append((done - mid) * 1000)
            end_to_end.append((done - started) * 1000)
            started = time.perf_counter()
            await collection.query.near_vector(vector.tolist(), limit=10)
            vector_only.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await collection.query.bm25(t, query_properties=["text"], limit=10)
            bm25_only.append((time.perf_counter() - started) * 1000)
        print(f"search over {max(have, n):,} chunks, {queries} hybrid queries, limit 10:")
        for label, values in (
            ("Weaviate hybrid", only_search),
            ("with query embedding", end_to_end),
            ("vector only (HNSW)", vector_only),
            ("BM25 only", bm25_only),
        ):
            print(f"  {label:<24} p50 {pct(values, 0.5):6.1f} ms   p99 {pct(values, 0.99):6.1f} ms")
        if not keep:
            await weaviate.collections.use(vectorstore.KNOWLEDGE).tenants.remove([BENCH_TENANT])
    finally:
        await weaviate.close()


async def _fill(collection, start: int, n: int, batch: int = 2000) -> None:
    rng = np.random.default_rng(1)
    words, p = zipf_vocabulary()
    started = time.perf_counter()
    for first in range(start, n, batch):
        size = min(batch, n - first)
        vectors = rng.standard_normal((size, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        objects = [
            DataObject(
                uuid=vectorstore.chunk_uuid("bench", first + i),
                properties={
                    "document_id": f"bench-{(first + i) // 100}",
                    "filename": "bench.md",
                    "chunk_index": (first + i) % 100,
                    "text": " ".join(rng.choice(words, size=150, p=p)),
                },
                vector=vectors[i].tolist(),
            )
            for i in range(size)
        ]
        result = await collection.data.insert_many(objects)
        if result.errors:
            raise RuntimeError(next(iter(result.errors.values())).message)
        done = first + size
        if done % 20_000 == 0 or done == n:
            rate = (done - start) / (time.perf_counter() - started)
            print(f"  inserted {done:,}/{n:,} chunks ({rate:,.0f}/s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=96, help="chunks in the ingestion document")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--search-chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help=f"keep tenant {BENCH_TENANT!r} for the next run")
    parser.add_argument(
        "--notes", type=int, default=0,
        help="then index this many one-line notes of other users while a document of --chunks is embedded",
    )  # fmt: skip
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args()
    settings = Settings(mongodb_database=f"bench_{uuid.uuid4().hex[:8]}")
    print(f"embedder {get_embedder(settings).name}, threads={settings.embeddings_threads or 'auto'}, "
          f"batch {settings.ingest_batch_size}")  # fmt: skip
    if not args.skip_ingest:
        asyncio.run(bench_ingest(settings, args.chunks, args.rounds, args.notes))
    if not args.skip_search:
        asyncio.run(bench_search(settings, args.search_chunks, args.queries, args.keep))


if __name__ == "__main__":
    main()
