"""Foreign shards reach the model loaders only through the tar guard: hostile members are refused
with an error naming the shard, the member and the problem, before anything is read or written."""

from __future__ import annotations

import tarfile

import pytest

from mmdata.safety import UnsafeShardError
from mmmodel.data import count_samples, shard_paths
from mmmodel.train import train
from tests.mmmodel.conftest import tiny_config
from tests.mmmodel.synthetic import write_synthetic_shards

OVERSIZED = 300 * 1024 * 1024  # above the guard's 256 MiB member cap


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", size: int = 4) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, linkname, size if kind == tarfile.REGTYPE else 0
    return info


HOSTILE = {
    "absolute": (_member("/tmp/mmpipe-pwned.json"), "absolute path"),
    "dotdot": (_member("../../mmpipe-pwned.json"), "'..'"),
    "symlink": (_member("x.json", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
    "hardlink": (_member("x.cls", tarfile.LNKTYPE, "/etc/shadow"), "hard link"),
    "device": (_member("x.png", tarfile.CHRTYPE), "device file"),
    "oversized": (_member("x.mel.npy", size=OVERSIZED), "exceeds the cap"),
}


def _plant(shards, split: str, info: tarfile.TarInfo) -> None:
    """Add a foreign shard holding ``info`` beside the good ones; an oversized member stays sparse."""
    path = shards / split / "shard-000099.tar"
    with open(path, "wb") as fh:
        fh.write(info.tobuf(tarfile.GNU_FORMAT))
        if info.isreg() and info.size == OVERSIZED:
            fh.truncate(fh.tell() + info.size + 1024)  # a hole, not 300 MB of disk
        elif info.isreg():
            fh.write(b"{}  " + b"\0" * (tarfile.BLOCKSIZE - 4) + b"\0" * 1024)
        else:
            fh.write(b"\0" * 1024)
    with tarfile.open(path) as tar:  # the planted shard is a well-formed tar: only its member is hostile
        assert tar.next().name == info.name


@pytest.fixture(scope="module")
def clean_shards(tmp_path_factory):
    return write_synthetic_shards(tmp_path_factory.mktemp("foreign") / "shards", {"train": 32, "val": 16, "test": 16},
                                  per_shard=16)


@pytest.fixture
def shards(clean_shards):
    yield clean_shards
    (clean_shards / "train" / "shard-000099.tar").unlink(missing_ok=True)  # the next case starts clean


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_loaders_refuse_a_foreign_shard_naming_member_and_problem(shards, tmp_path, case):
    info, problem = HOSTILE[case]
    _plant(shards, "train", info)
    with pytest.raises(UnsafeShardError) as caught:
        shard_paths(shards, "train")
    message = str(caught.value)
    assert "shard-000099.tar" in message and info.name in message and problem in message
    with pytest.raises(UnsafeShardError):
        count_samples(shards, "train")
    assert not (tmp_path / "mmpipe-pwned.json").exists()


def test_training_refuses_before_writing_a_model(shards, tmp_path):
    _plant(shards, "train", HOSTILE["dotdot"][0])
    cfg = tiny_config(tmp_path / "run", shards)
    with pytest.raises(UnsafeShardError, match="'..' path component"):
        train(cfg)
    assert not (tmp_path / "run" / "model" / "model.pt").exists()


def test_clean_shards_still_load(shards):
    assert len(shard_paths(shards, "train")) == 2 and count_samples(shards, "train") == 32
