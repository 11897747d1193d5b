"""Defences against hostile input: foreign shards are checked before any member is read."""

from mmdata.safety.tar_guard import UnsafeShardError, safe_tar_samples, validate_shard

__all__ = ["UnsafeShardError", "safe_tar_samples", "validate_shard"]
