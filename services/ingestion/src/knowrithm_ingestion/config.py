"""Ingestion settings: limits, blob store, vector store, OCR, workers, outbound fetching, and
companies' own databases (ENCRYPTION_KEY keeps their URLs at rest)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from knowrithm_common.crypto import SecretBox, readable_fernet_keys
from knowrithm_common.settings import BaseServiceSettings
from knowrithm_common.sysconfig import MAX_FILE_SIZE
from knowrithm_ingestion.extraction.model import Limits

MB = 1024 * 1024


class IngestionSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGESTION_", extra="ignore", populate_by_name=True)

    # --- uploads (MAX_FILE_SIZE as in the seed: bytes per file)
    max_file_size: int = Field(50 * MB, validation_alias="MAX_FILE_SIZE")
    max_files_per_upload: int = 20
    max_pages: int = 2000
    max_image_pixels: int = 50_000_000
    max_unzipped_bytes: int = 200 * MB
    # --- where uploaded files live (a persistent volume in Kubernetes)
    blob_dir: str = ".knowrithm/blobs"
    # --- OCR: Tesseract language(s), e.g. "eng" or "eng+deu"; concurrent pages per document
    ocr_language: str = "eng"
    ocr_workers: int = 2
    # --- chunking
    chunk_tokens: int = 350
    chunk_overlap_tokens: int = 50
    # --- vector store: pgvector (embedded default) or weaviate (when WEAVIATE_URL is set)
    vector_store: str = ""  # empty: weaviate if WEAVIATE_URL is set, else pgvector
    weaviate_url: str = Field("", validation_alias="WEAVIATE_URL")
    weaviate_api_key: SecretStr = Field(SecretStr(""), validation_alias="WEAVIATE_API_KEY")
    # --- embeddings
    embed_batch_size: int = 64
    embed_timeout_seconds: float = 30.0
    embed_max_retries: int = 5
    # --- workers (JOBS): concurrent jobs per worker process, redelivery and heartbeats
    worker_concurrency: int = 2
    job_ack_wait_seconds: float = 60.0
    job_max_deliver: int = 5
    # --- outbound fetches (URL uploads, crawling): private addresses are refused unless listed
    # here (CIDRs or host[:port], comma-separated), e.g. for a test site or an intranet wiki.
    fetch_allowlist: str = ""
    fetch_timeout_seconds: float = 20.0
    fetch_max_redirects: int = 5
    crawl_max_pages: int = 500
    crawl_delay_seconds: float = 0.0
    user_agent: str = "KnowrithmBot/1.0 (+https://knowrithm.org/bot)"
    # --- companies' own databases: their URLs are encrypted with ENCRYPTION_KEY (Fernet keys,
    # comma-separated newest first; without one, connections cannot be created). Hosts that are
    # private, loopback or link-local addresses (or `localhost`) are refused unless listed here
    # (CIDRs or host[:port], comma-separated), e.g. a database inside the company's network.
    encryption_key: SecretStr = Field(SecretStr(""), validation_alias="ENCRYPTION_KEY")
    database_allowlist: str = ""
    # --- the agent's language model (text-to-SQL, table summaries): a provider that says nothing
    # for this long fails the call
    llm_timeout_seconds: float = 60.0
    # --- search
    search_timeout_seconds: float = 10.0
    # --- an agent the projection has not seen yet is asked of the agents service; no answer
    # within this long is a 503 (retryable), never a 404
    agents_lookup_timeout_seconds: float = 2.0

    @property
    def backend(self) -> str:
        """The vector store in use."""
        if self.vector_store:
            return self.vector_store
        return "weaviate" if self.weaviate_url else "pgvector"

    def limits(self) -> Limits:
        """The extraction limits of the worker."""
        return Limits(
            # The upload checked the file against the limit in force then (possibly a configuration
            # entry above MAX_FILE_SIZE, or lowered since): the worker processes what was accepted.
            max_file_bytes=max(self.max_file_size, MAX_FILE_SIZE.maximum or 0),
            max_pages=self.max_pages,
            max_image_pixels=self.max_image_pixels,
            max_unzipped_bytes=self.max_unzipped_bytes,
            ocr_language=self.ocr_language,
            ocr_workers=self.ocr_workers,
        )

    def allowlist(self) -> list[str]:
        return [entry.strip() for entry in self.fetch_allowlist.split(",") if entry.strip()]

    def database_allowed(self) -> list[str]:
        """INGESTION_DATABASE_ALLOWLIST's entries."""
        return [entry.strip() for entry in self.database_allowlist.split(",") if entry.strip()]

    def secret_box(self) -> SecretBox | None:
        """The box of database URLs at rest; None without ENCRYPTION_KEY."""
        keys = self.encryption_key.get_secret_value()
        return SecretBox(keys) if keys.strip() else None

    _readable_encryption_key = field_validator("encryption_key")(readable_fernet_keys)
