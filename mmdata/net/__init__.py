"""Networking for ingest: a guarded async downloader (SSRF checks, caps, retries) and content sniffing."""
