from alice_common.embeddings import EmbeddingSettings
from alice_common.settings import AliceSettings


class Settings(EmbeddingSettings, AliceSettings):
    service_name: str = "dataflow"
    port: int = 8002
    # The names this service answers to in the Host header (probes are exempt): the backend calls
    # it by its service name in compose and k8s.
    allowed_hosts: str = "127.0.0.1,localhost"

    # Chunks are measured in model word pieces: all-MiniLM-L6-v2 reads at most 256 of them.
    chunk_tokens: int = 200
    chunk_overlap_tokens: int = 40
    # Chunks embedded and written to Weaviate per step (progress is reported after each).
    ingest_batch_size: int = 64
    # Documents processed at once (read, extracted, embedded), handed out in turn between users
    # (`alice_dataflow.fair_queue`), at most `documents_per_user` of them to one user.
    documents_concurrency: int = 4
    documents_per_user: int = 1
    # Documents taken off Kafka at once. Those beyond `documents_concurrency` wait their turn
    # (status `queued`, with their place in line), which costs a few hundred bytes each; a high
    # number keeps one user's backlog from holding every record slot ahead of another's note.
    documents_in_flight: int = 128
    # Chat turns are small: many at a time.
    chat_concurrency: int = 32
    # Transient failures (a MongoDB election, a Weaviate restart) are retried this many times with
    # backoff from 0.5 s doubling to 15 s (about half a minute in all); permanent ones are not.
    consumer_max_attempts: int = 7
    # Ceiling on extracted text per document, in characters (a 20 MiB text file stays bounded).
    max_document_chars: int = 5_000_000
    # Chunks (distinct ones: repeated text is indexed once) one document may have; a document
    # that would make more fails with "too much text" before anything is embedded. 2,000 chunks
    # are about 320,000 words, a long book, and under a minute of embedding on 2 quiet cores.
    max_document_chunks: int = 2_000
    # Files above this size fail before any parsing (the backend accepts up to MAX_UPLOAD_BYTES).
    max_document_bytes: int = 20 * 1024 * 1024
    # Each document is extracted and chunked in a child process with these limits, one at a time:
    # memory on top of the child's interpreter, CPU seconds, and wall-clock seconds.
    extract_memory_mb: int = 384
    extract_cpu_s: int = 60
    extract_timeout_s: float = 180.0
    # A document or chat turn that was in flight when the process died runs alone next time; once
    # it has crashed the process while alone this many times it goes to the dead-letter topic
    # instead of being tried again (docs/kafka.md, "Crash attribution").
    max_solo_crashes: int = 3
