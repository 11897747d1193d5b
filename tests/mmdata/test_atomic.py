"""Atomic writes and early writeback of large outputs."""

from __future__ import annotations

import sys

import pytest

from mmdata import atomic
from mmdata.atomic import atomic_path, start_writeback
from mmdata.build import finalize
from mmdata.build.config import BuildConfig
from mmdata.build.run import run_build
from tests.mmdata.build.corpus import make_raw_corpus


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux only")
def test_writeback_uses_sync_file_range_on_linux_and_keeps_the_data(tmp_path):
    assert atomic._sync_file_range() is not None  # a broken binding would silently lose the overlap
    data = bytes(range(256)) * 4096
    with atomic_path(tmp_path / "f.bin") as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        start_writeback(handle.fileno(), 0, len(data))
        start_writeback(handle.fileno(), 0, 0)  # an empty range is no call at all
    assert (tmp_path / "f.bin").read_bytes() == data


def test_shards_are_handed_to_the_disk_in_contiguous_chunks_and_stay_identical(tmp_path, monkeypatch):
    raw = make_raw_corpus(tmp_path / "raw", per_class=4)
    reference = tmp_path / "reference"
    run_build(BuildConfig(raw=str(raw), out=str(reference), partitions=2))
    ranges: list[tuple[int, int]] = []
    monkeypatch.setattr(finalize, "WRITEBACK_CHUNK", 4096)
    monkeypatch.setattr(finalize, "start_writeback", lambda fd, offset, length: ranges.append((offset, length)))
    out = tmp_path / "chunked"
    run_build(BuildConfig(raw=str(raw), out=str(out), partitions=2))
    shards = sorted(out.glob("*/shard-*.tar"))
    assert [p.read_bytes() for p in shards] == [(reference / p.relative_to(out)).read_bytes() for p in shards]
    assert len(ranges) >= len(shards) and all(length >= 4096 for _, length in ranges)
    starts = [offset for offset, _ in ranges]
    # Each shard's ranges start at 0 and follow on from each other.
    assert starts[0] == 0 and all(b == 0 or b == a + n for (a, n), b in zip(ranges, starts[1:], strict=False))
