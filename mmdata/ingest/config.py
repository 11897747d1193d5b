"""IngestConfig: the one typed config of the ingest stage (params.yaml section ``ingest``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class IngestConfig(BaseModel):
    """Where inputs come from, where the raw store goes, and the network/crawl policy."""

    model_config = ConfigDict(extra="forbid")

    # Sources (any combination; each contributes items to the same manifest).
    dirs: list[str] = Field(default_factory=list, description="local folders; files sharing a stem form a sample")
    tables: list[str] = Field(default_factory=list, description="csv / jsonl / parquet tables, one row per sample")
    crawl: list[str] = Field(default_factory=list, description="start URLs of a same-site web crawl")
    out: str = "data/raw"

    # Directory source: a regex with named groups ``label`` / ``group`` applied to the file name
    # (used when there is no labels.csv; the parent folder name is the fallback label).
    label_pattern: str | None = None

    # Crawl policy.
    max_pages: int = Field(100, ge=1)
    max_depth: int = Field(2, ge=0)
    max_links_per_page: int = Field(5000, ge=1, description="links read from one page at most")
    allowed_hosts: list[str] = Field(default_factory=list, description="extra hosts pages may be followed to")
    respect_robots: bool = True
    use_sitemap: bool = True
    user_agent: str = "mmpipe-ingest/0.1 (+https://example.invalid/mmpipe)"

    # Downloader policy.
    allow_private_network: bool = False  # loopback/private/link-local targets are refused unless True
    concurrency: int = Field(64, ge=1, description="requests in flight, all hosts together")
    per_host_concurrency: int = Field(16, ge=1)
    per_host_rate: float = Field(0.0, ge=0, description="requests per second per host; 0 = unlimited")
    timeout_s: float = Field(30.0, gt=0, description="per-request time limit (connect + full body)")
    retries: int = Field(3, ge=0, description="extra attempts on connection errors, timeouts, 429 and 5xx")
    backoff_s: float = Field(0.5, ge=0, description="first retry delay; doubles each attempt, with jitter")
    max_backoff_s: float = Field(30.0, ge=0, description="cap on one retry delay, Retry-After included")
    max_bytes: int = Field(50 * 1024 * 1024, ge=1, description="cap on bytes received per item")
    max_decompressed_bytes: int = Field(100 * 1024 * 1024, ge=1, description="cap after gzip/deflate")
    max_redirects: int = Field(5, ge=0)

    # Re-runs: items that failed before are retried only when asked.
    retry_failed: bool = False
    # Finished items are fsynced to the journal in batches: larger is faster, smaller loses
    # less work to a kill (lost items are simply redone on resume).
    journal_batch: int = Field(256, ge=1)
    progress: bool = True

    @field_validator("dirs", "tables", "crawl", "allowed_hosts", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        # A single string in params.yaml or on the CLI means a list of one.
        return [value] if isinstance(value, str) else value

    def has_sources(self) -> bool:
        return bool(self.dirs or self.tables or self.crawl)
