from alice_common.embeddings import EmbeddingSettings
from alice_common.settings import AliceSettings


class Settings(EmbeddingSettings, AliceSettings):
    service_name: str = "dataflow"
    port: int = 8002

    # Chunks are measured in model word pieces: all-MiniLM-L6-v2 reads at most 256 of them.
    chunk_tokens: int = 200
    chunk_overlap_tokens: int = 40
    # Chunks embedded and written to Weaviate per step (progress is reported after each).
    ingest_batch_size: int = 64
    # Documents are CPU-bound: few at a time; chat turns are small: more at a time.
    documents_concurrency: int = 2
    chat_concurrency: int = 32
    consumer_max_attempts: int = 3
    # Ceiling on extracted text per document, in characters (a 20 MiB text file stays bounded).
    max_document_chars: int = 5_000_000
