"""`documents.uploaded` → extract, chunk, embed, index into the owner's tenant, report progress."""

import asyncio
import logging
from functools import partial

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from alice_common import topics, vectorstore
from alice_common.embeddings import Embedder
from alice_common.events import DocumentIndexed, DocumentUploaded, parse_event
from alice_common.kafka.failures import DeliveryLimitExceeded
from bson import ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter

from alice_dataflow.documents import FAILED, INDEXED, PROCESSING, QUEUED, DocumentStore
from alice_dataflow.extract import DocumentError
from alice_dataflow.fair_queue import FairQueue
from alice_dataflow.sandbox import MIB, Job, Limits, Sandbox
from alice_dataflow.settings import Settings

log = logging.getLogger(__name__)

# Progress: reading, extracting and chunking take the first 15 %, embedding+indexing the rest.
P_STARTED, P_CHUNKED = 2, 15


class DocumentGone(Exception):
    """The record was deleted while the document was being indexed."""


class Ingestor:
    def __init__(
        self,
        settings: Settings,
        store: DocumentStore,
        uploads: AsyncGridFSBucket,
        weaviate,
        embedder: Embedder,
        producer: AIOKafkaProducer,
    ) -> None:
        self.settings = settings
        self.store = store
        self.uploads = uploads
        self.weaviate = weaviate
        self.embedder = embedder
        self.producer = producer
        self.sandbox = Sandbox(
            Limits(settings.extract_memory_mb * MIB, settings.extract_cpu_s, settings.extract_timeout_s)
        )
        # Who goes next: documents of different users take turns (docs/knowledge.md, "Fairness").
        self.line = FairQueue(settings.documents_concurrency, settings.documents_per_user)

    async def handle(self, event: DocumentUploaded, record: ConsumerRecord) -> None:
        await self.ingest(event)

    async def on_dead_letter(self, record: ConsumerRecord, exc: BaseException) -> None:
        """Whatever kept failing, the user sees `failed` with the reason rather than a stuck status."""
        try:
            event = parse_event(record.value)
        except ValueError:
            return
        if not isinstance(event, DocumentUploaded):
            return
        doc = await self.store.get_any(event.document_id)
        if doc is not None and doc["status"] != FAILED:
            if isinstance(exc, DeliveryLimitExceeded):
                reason = "processing this document crashed the indexer repeatedly; it was set aside"
            else:
                reason = f"indexing failed after retries: {type(exc).__name__}: {exc}"[:500]
            await self.store.fail(event.document_id, reason, permanent=False)
            await self._emit(event, FAILED, 0, reason)

    async def ingest(self, event: DocumentUploaded) -> None:
        doc = await self.store.get_any(event.document_id)
        if doc is None or doc["user_id"] != event.user_id:
            log.info("document %s is not registered (deleted?); skipping", event.document_id)
            return
        if doc["status"] == INDEXED:
            return  # redelivery after success
        if doc["status"] == FAILED and doc.get("permanent"):
            raise DocumentError(doc.get("error") or "the document cannot be indexed")
        # The event only names the document: what to read, and how, is what was registered
        # (whoever can produce to Kafka must not point a document at someone else's file).
        event = event.model_copy(update={k: doc[k] for k in ("blob_id", "filename", "content_type", "size")})
        try:
            async with self.line.turn(event.user_id, partial(self._queued, event.document_id)):
                await self._run(event)
        except DocumentGone:
            await vectorstore.delete_document_chunks(self.weaviate, event.user_id, event.document_id)
            log.info("document %s deleted while indexing; chunks removed", event.document_id)
        except DocumentError as exc:
            reason = str(exc)
            await self.store.fail(event.document_id, reason, permanent=True)
            await self._emit(event, FAILED, 0, reason)
            raise

    async def _queued(self, document_id: str, position: int) -> None:
        """Waiting for a turn: `queued`, with its place in line (1 = next)."""
        await self._progress(document_id, status=QUEUED, progress=0, position=position)

    async def _progress(self, document_id: str, **fields) -> None:
        if not await self.store.update(document_id, **fields):
            raise DocumentGone(document_id)

    async def _run(self, event: DocumentUploaded) -> None:
        s = self.settings
        doc_id = event.document_id
        await self._progress(
            doc_id, status=PROCESSING, progress=P_STARTED, error=None, chunks=0, position=None
        )
        job = Job(
            event.content_type, event.filename, s.max_document_chars, s.chunk_tokens,
            s.chunk_overlap_tokens, s.max_document_chunks,
        )  # fmt: skip
        chunks = await self.sandbox.chunks(
            partial(self._read_blob, event.blob_id, event.user_id), job, event.size
        )
        await self._progress(doc_id, progress=P_CHUNKED)
        await self._index(event, chunks)
        await self._progress(doc_id, status=INDEXED, progress=100, chunks=len(chunks), error=None)
        await self._emit(event, INDEXED, len(chunks), None)
        log.info("indexed document %s: %d chunks", doc_id, len(chunks))

    async def _read_blob(self, blob_id: str, owner: str) -> bytes:
        """The stored upload, only if it belongs to `owner` (the backend records it in metadata)."""
        ids: list = [blob_id]
        if ObjectId.is_valid(blob_id):
            ids.append(ObjectId(blob_id))
        for candidate in ids:
            try:
                stream = await self.uploads.open_download_stream(candidate)
            except NoFile:
                continue
            if (stream.metadata or {}).get("user_id") != owner:
                log.warning("blob %s does not belong to the document's owner; refused", blob_id)
                break
            limit = self.settings.max_document_bytes
            if stream.length > limit:  # refused before a byte is read or parsed
                size = f"{stream.length / MIB:.1f} MiB"
                raise DocumentError(f"the file is {size}; documents are limited to {limit // MIB} MiB")
            return await stream.read()
        raise DocumentError("the uploaded file is missing from storage")

    async def _index(self, event: DocumentUploaded, chunks: list[str]) -> None:
        """Embed batch k+1 while batch k is written, so the model is rarely idle."""
        collection = vectorstore.knowledge(self.weaviate, event.user_id)
        size = self.settings.ingest_batch_size
        total = len(chunks)
        writing: asyncio.Task | None = None
        try:
            for start in range(0, total, size):
                batch = chunks[start : start + size]
                vectors = await self.embedder.aembed(batch, owner=event.user_id)
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self._write(collection, event, start, batch, vectors, total))
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
        # A redelivery under other chunk settings may have left higher-numbered chunks behind.
        await collection.data.delete_many(
            where=Filter.by_property("document_id").equal(event.document_id)
            & Filter.by_property("chunk_index").greater_or_equal(total)
        )

    async def _write(
        self, collection, event: DocumentUploaded, start: int, batch, vectors, total: int
    ) -> None:
        objects = [
            DataObject(
                uuid=vectorstore.chunk_uuid(event.document_id, start + i),
                properties={
                    "document_id": event.document_id,
                    "filename": event.filename,
                    "chunk_index": start + i,
                    "text": text,
                    "conversation_id": event.conversation_id or "",
                    "attached": event.conversation_id is not None,
                },
                vector=vector.tolist(),
            )
            for i, (text, vector) in enumerate(zip(batch, vectors, strict=True))
        ]
        result = await collection.data.insert_many(objects)
        if result.errors:
            first = next(iter(result.errors.values()))
            raise RuntimeError(f"Weaviate rejected {len(result.errors)} chunks: {first.message}")
        done = start + len(batch)
        progress = P_CHUNKED + int((100 - P_CHUNKED - 1) * done / total)
        await self._progress(event.document_id, progress=progress, chunks=done)

    async def _emit(self, event: DocumentUploaded, status: str, chunks: int, error: str | None) -> None:
        out = DocumentIndexed(
            document_id=event.document_id,
            user_id=event.user_id,
            status=status,
            chunks=chunks,
            error=error,
            trace_id=event.trace_id,
        )
        topic = topics.DOCUMENTS_INDEXED
        await self.producer.send_and_wait(
            self.settings.topic(topic.name), out.to_bytes(), key=topic.key_of(out).encode()
        )
