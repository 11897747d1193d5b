"""The ingest stage: sources -> raw store + one manifest row per input item (resumable, incremental)."""
