"""Settings of shard writing (params.yaml `build.shards`)."""

from __future__ import annotations

from pydantic import BaseModel


class ShardConfig(BaseModel):
    """A shard closes at ``maxcount`` samples or ``maxsize`` bytes, whichever comes first."""

    maxcount: int = 1000
    maxsize: int = 256 * 1024 * 1024
    shuffle: bool = True  # seeded order across shards (build.seed); False keeps key order
