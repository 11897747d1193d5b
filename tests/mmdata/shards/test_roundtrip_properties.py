"""Property: whatever samples go into shards come back out, byte for byte and in order."""

from __future__ import annotations

import tempfile
from pathlib import Path

import webdataset as wds
from hypothesis import given, settings
from hypothesis import strategies as st

from mmdata.build.finalize import ShardSink
from mmdata.safety import safe_tar_samples, validate_shard

# Shard keys are tar-safe (no dots, no slashes); long and non-ASCII ones take tarfile's long-name path.
_KEY = st.text(alphabet=st.sampled_from("abcXYZ019_-é猫"), min_size=1, max_size=120)
_FIELDS = st.dictionaries(st.sampled_from(["txt", "json", "cls", "png", "flac", "mel.npy", "tok.npy"]),
                          st.binary(max_size=700), min_size=1, max_size=5)


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(_KEY, _FIELDS, min_size=1, max_size=12), st.integers(1, 5), st.integers(1, 4000))
def test_shard_write_then_read_returns_the_same_samples(samples, maxcount, maxsize):
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "train"
        directory.mkdir()
        with ShardSink(directory, maxcount, maxsize) as sink:
            for key, fields in samples.items():
                sink.add(key, fields, {"key": key})
        shards = sorted(directory.glob("shard-*.tar"))
        assert {p.name for p in directory.iterdir()} == {p.name for p in shards} | {
            p.with_suffix(".parquet").name for p in shards}  # no temporaries left beside them
        for shard in shards:
            validate_shard(shard)
        expected = [{"__key__": key, **fields} for key, fields in samples.items()]
        guarded = [{k: v for k, v in s.items() if k != "__url__"} for s in safe_tar_samples(shards)]
        assert guarded == expected
        plain = [{k: v for k, v in s.items() if not k.startswith("__") or k == "__key__"}
                 for s in wds.tarfile_samples([{"url": str(p)} for p in shards])]
        assert plain == expected
        assert set(sink.shard_of) == set(samples)
