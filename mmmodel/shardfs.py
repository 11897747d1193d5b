"""Where shards live: a local folder, or any fsspec URL (``s3://``, ``gs://``, ``http(s)://``,
``file://``, ``memory://``).

Local folders keep the direct path: a filesystem glob, then every tar checked up front with
seeks over its headers. URLs are listed with their filesystem's glob and each tar is streamed
once; the reader checks every member header as it streams past (a separate validation pass
would download every remote shard twice).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO

import fsspec
from fsspec.core import url_to_fs

from mmdata.manifest import MANIFEST_NAME
from mmdata.safety.tar_guard import validate_shard

SHARD_GLOB = "shard-*.tar"
# Plain HTTP servers (python -m http.server included) may ignore Range requests: read each shard
# with one streaming GET instead of block-sized range reads.
_STREAM_OPTIONS = {"http": {"block_size": 0}, "https": {"block_size": 0}}


class ShardError(ValueError):
    """A shard set or sample that the model cannot read, with the reason."""


def is_url(location: str | Path) -> bool:
    """True for an fsspec URL (``proto://...``), False for a local path."""
    return "://" in str(location)


def join(location: str | Path, *names: str) -> str:
    """``location/name/...`` for a local path or a URL."""
    if is_url(location):
        return "/".join([str(location).rstrip("/"), *names])
    return str(Path(location, *names))


def _filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem of ``url`` and the path inside it; a missing plugin is a ShardError."""
    try:
        return url_to_fs(url)
    except ImportError as err:  # fsspec names the plugin, e.g. "Install s3fs to access S3"
        raise ShardError(f"cannot read {url}: {err} (the fsspec plugin for this protocol is not installed)") from err
    except ValueError as err:  # "Protocol not known: ..."
        raise ShardError(f"cannot read {url}: {err}") from err


def list_shards(location: str | Path, split: str) -> list[str]:
    """Sorted shard files (local paths) or full URLs of one split; local tars are checked up front."""
    folder = join(location, split)
    if is_url(location):
        fs, root = _filesystem(folder)
        try:
            found = fs.glob(f"{root.rstrip('/')}/{SHARD_GLOB}")
        except OSError as err:  # unreachable host, denied access, ...
            raise ShardError(f"cannot list {folder}/{SHARD_GLOB}: {err}") from err
        paths = sorted(fs.unstrip_protocol(p) for p in found)
    else:
        paths = sorted(str(p) for p in Path(folder).glob(SHARD_GLOB)) if Path(folder).is_dir() else []
        for path in paths:  # refuses absolute paths, `..`, links, devices, huge members
            validate_shard(path)
    if not paths:
        raise ShardError(f"no shards for split {split!r}: expected {folder}/{SHARD_GLOB}")
    return paths


def open_shard(path: str) -> IO[bytes]:
    """A binary stream of one shard (local path or URL), to be read once from start to end."""
    if not is_url(path):
        return open(path, "rb")  # noqa: SIM115 - the tar reader closes it
    fs, inner = _filesystem(path)
    options = next((_STREAM_OPTIONS[p] for p in _protocols(fs) if p in _STREAM_OPTIONS), {})
    try:
        return fs.open(inner, "rb", **options)
    except OSError as err:
        raise ShardError(f"cannot open shard {path}: {err}") from err


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)


def read_optional(path: str) -> bytes | None:
    """Bytes of a small file beside the shards (labels.json, a sidecar parquet), or None when absent."""
    if not is_url(path):
        return Path(path).read_bytes() if Path(path).is_file() else None
    fs, inner = _filesystem(path)
    try:
        return fs.cat_file(inner)
    except FileNotFoundError:
        return None


# What a build writes beside its shards that names their content: the manifest (every sample's sources,
# status, split and shard) and the standardization settings, vocabulary and labels.
_BUILD_RECORDS = (MANIFEST_NAME, "preprocess.json", "vocab.json", "labels.json")


def data_fingerprint(location: str | Path, splits: tuple[str, ...]) -> str:
    """sha256 naming the content of a shard set, cheap enough to take at every training start.

    A build's records are enough: a build is deterministic (the same records come with the same
    shard bytes), and rebuilt data with other inputs or settings has other records. Shards without
    a manifest (not written by ``mm build``) are named by each split's shard names and sizes.
    """
    digest = hashlib.sha256()
    records = {name: read_optional(join(location, name)) for name in _BUILD_RECORDS}
    if records[MANIFEST_NAME] is not None:
        for name, data in records.items():
            data = data or b""
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
        return digest.hexdigest()
    for split in splits:
        for name, size in _shard_sizes(location, split):
            digest.update(f"{split}/{name}\0{size}\0".encode())
    return digest.hexdigest()


def _shard_sizes(location: str | Path, split: str) -> list[tuple[str, int]]:
    """(file name, bytes) of one split's shards, sorted; none when the split is absent."""
    folder = join(location, split)
    if not is_url(location):
        return sorted((p.name, p.stat().st_size) for p in Path(folder).glob(SHARD_GLOB))
    fs, root = _filesystem(folder)
    try:
        found = fs.glob(f"{root.rstrip('/')}/{SHARD_GLOB}", detail=True)
    except OSError as err:
        raise ShardError(f"cannot list {folder}/{SHARD_GLOB}: {err}") from err
    return sorted((path.rsplit("/", 1)[-1], int(info.get("size") or 0)) for path, info in found.items())
