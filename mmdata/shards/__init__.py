"""Shard writing (deterministic tars, sidecar parquet, stats) and inspection."""
