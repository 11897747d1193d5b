"""Ingest sources: a local directory, a table of paths/URLs/inline text, and a web crawl."""
