"""The ingest stage: sources -> raw store + one manifest row per input item (resumable, incremental).

Entry point: ``mmdata.ingest.run.run_ingest(IngestConfig(...)) -> IngestSummary``; the same
as ``mm ingest`` / ``python -m flows.ingest`` (params.yaml section ``ingest``).

What ``<out>/`` holds afterwards:
- ``manifest.parquet``: one row per input item, sorted by (key, modality, uri); core columns of
  ``mmdata.manifest.RAW_SCHEMA`` plus ``item_id``, ``http_status``, ``error_class``,
  ``final_url`` and ``duplicate_of``. Non-ok rows carry ``reason`` = ``<identifier>: <detail>``
  (``http_404``, ``too_large``, ``robots_disallowed``, ``private_address``, ``off_site``,
  ``max_pages``, ``unsupported_type``, ``empty_file``...). Repeated content is status ok with
  ``reason = "duplicate_content: <sha256>"`` and is stored once.
- ``objects/<sha[:2]>/<sha>``: the content-addressed raw store (``mmdata.store.RawStore``).
- ``journal.jsonl``: finished items; what makes a killed run resumable and re-runs incremental.

Fault injection for tests: ``MMPIPE_INGEST_KILL_AFTER=N`` SIGKILLs the process after N items
were finished in the run; ``=manifest`` kills it just before the manifest is written.
"""
