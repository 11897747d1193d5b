"""Foreign shards: hostile tar members are refused with a message naming the member."""

from __future__ import annotations

import io
import re
import tarfile

import pytest
import webdataset as wds

from mmdata.safety import UnsafeShardError, safe_tar_samples, validate_shard
from mmdata.safety.tar_guard import safe_tarfile_to_samples


def _regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def _write_tar(path, members) -> None:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


GOOD = [_regular("a.txt", b"hello"), _regular("a.json", b"{}"), _regular("b.txt", b"bye")]

HOSTILE = {
    "absolute": ([_regular("/etc/passwd.txt", b"x")], "absolute path"),
    "dotdot": ([_regular("../../evil.txt", b"x")], "'..'"),
    "dotdot_inner": ([_regular("ok/../../evil.txt", b"x")], "'..'"),
    "symlink": ([_special("s.txt", tarfile.SYMTYPE, "/etc/passwd")], "symbolic link"),
    "hardlink": ([_regular("c.txt", b"x"), _special("h.txt", tarfile.LNKTYPE, "c.txt")], "hard link"),
    "chardev": ([_special("dev.txt", tarfile.CHRTYPE)], "device file"),
    "blockdev": ([_special("blk.txt", tarfile.BLKTYPE)], "device file"),
    "fifo": ([_special("pipe.txt", tarfile.FIFOTYPE)], "FIFO"),
    "directory": ([_special("d", tarfile.DIRTYPE)], "directory"),
}


def test_clean_shard_validates_and_counts_members(tmp_path):
    path = tmp_path / "good.tar"
    _write_tar(path, GOOD)
    assert validate_shard(path) == 3


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_member_is_refused_with_member_and_problem(tmp_path, case):
    members, problem = HOSTILE[case]
    path = tmp_path / f"{case}.tar"
    _write_tar(path, GOOD[:1] + members)
    with pytest.raises(UnsafeShardError) as caught:
        validate_shard(path)
    bad_name = members[-1][0].name
    assert caught.value.member == bad_name
    assert problem in str(caught.value)
    assert bad_name in str(caught.value)
    # The streaming reader refuses the same member, after yielding nothing unsafe.
    with pytest.raises(UnsafeShardError, match=re.escape(problem)):
        list(safe_tar_samples([path]))


def test_oversized_member_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "big.tar"
    _write_tar(path, [_regular("big.bin", b"\0" * 5000)])
    assert validate_shard(path, max_member_bytes=5000) == 1
    with pytest.raises(UnsafeShardError, match=r"size 5000 bytes exceeds the cap of 4096"):
        validate_shard(path, max_member_bytes=4096)
    with pytest.raises(UnsafeShardError, match="exceeds the cap"):
        list(safe_tar_samples([path], max_member_bytes=4096))


def test_not_a_tar_and_truncated_tar_are_refused(tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar archive at all" * 40)
    with pytest.raises(UnsafeShardError, match="not a readable tar"):
        validate_shard(junk)
    good = tmp_path / "good.tar"
    _write_tar(good, [_regular("a.bin", b"z" * 4000)])
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(good.read_bytes()[:1500])
    with pytest.raises(UnsafeShardError, match="not a readable tar"):
        list(safe_tar_samples([truncated]))


def test_gzip_disguised_as_shard_is_refused(tmp_path):
    path = tmp_path / "bomb.tar"
    with tarfile.open(path, "w:gz") as tar:
        info, data = _regular("a.txt", b"\0" * 100_000)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(UnsafeShardError, match="not a readable tar"):
        validate_shard(path)


def test_safe_samples_equal_webdataset_samples(tmp_path):
    path = tmp_path / "good.tar"
    _write_tar(path, GOOD)
    ours = [{k: v for k, v in s.items() if k != "__url__"} for s in safe_tar_samples([path])]
    theirs = [
        {k: v for k, v in s.items() if k not in ("__url__", "__local_path__")}
        for s in wds.WebDataset(str(path), shardshuffle=False)
    ]
    assert ours == theirs == [{"__key__": "a", "txt": b"hello", "json": b"{}"}, {"__key__": "b", "txt": b"bye"}]


def test_stage_plugs_into_webdataset_pipeline_and_honours_handler(tmp_path):
    good, bad = tmp_path / "good.tar", tmp_path / "bad.tar"
    _write_tar(good, GOOD)
    _write_tar(bad, HOSTILE["symlink"][0])
    seen_errors: list[Exception] = []

    def warn_and_continue(error: Exception) -> bool:
        seen_errors.append(error)
        return True

    pipeline = wds.DataPipeline(
        wds.SimpleShardList([str(bad), str(good)]),
        _url_opener(),
        safe_tarfile_to_samples(handler=warn_and_continue),
    )
    keys = [sample["__key__"] for sample in pipeline]
    assert keys == ["a", "b"]
    assert len(seen_errors) == 1 and "symbolic link" in str(seen_errors[0])
    strict = wds.DataPipeline(wds.SimpleShardList([str(bad)]), _url_opener(), safe_tarfile_to_samples())
    with pytest.raises(UnsafeShardError, match="s.txt"):
        list(strict)


def _url_opener():
    from webdataset.tariterators import url_opener

    return url_opener


def test_duplicate_field_for_a_key_is_refused(tmp_path):
    path = tmp_path / "dup.tar"
    _write_tar(path, [_regular("a.txt", b"1"), _regular("a.txt", b"2")])
    with pytest.raises(UnsafeShardError, match="duplicate field 'txt'"):
        list(safe_tar_samples([path]))
