"""Refuse foreign tar shards that could escape, hang or exhaust a reader.

`validate_shard` walks the tar headers only (the data is skipped with seeks), so checking a
shard costs a few reads per member. `safe_tar_samples` is a WebDataset-compatible stage that
applies the same checks to each member header before it yields the member's bytes, for streams
where a separate validation pass is impossible.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

# Generous for standardized samples (a few hundred KB) yet small enough that one member cannot
# exhaust memory when a loader reads it whole.
DEFAULT_MAX_MEMBER_BYTES = 256 * 1024 * 1024


class UnsafeShardError(ValueError):
    """A tar shard holds a member a reader must not trust."""

    def __init__(self, shard: str, member: str, problem: str):
        super().__init__(f"unsafe shard {shard!r}: member {member!r}: {problem}")
        self.shard = shard
        self.member = member
        self.problem = problem


def member_problem(info: tarfile.TarInfo, max_member_bytes: int) -> str | None:
    """Why a tar member is unsafe, or None when it is a plain regular file with a safe name."""
    name = info.name
    if info.issym():
        return f"symbolic link (to {info.linkname!r}) is not allowed"
    if info.islnk():
        return f"hard link (to {info.linkname!r}) is not allowed"
    if info.ischr() or info.isblk():
        return "device file is not allowed"
    if info.isfifo():
        return "FIFO is not allowed"
    if info.isdir():
        return "directory entry is not allowed"
    if not info.isreg():
        return f"non-regular member (type {info.type!r}) is not allowed"
    if not name or "\x00" in name:
        return "empty or NUL-containing name"
    if name.startswith("/") or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        return "absolute path is not allowed"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return "'..' path component is not allowed"
    if posixpath.normpath(name).startswith(".."):
        return "path escapes the shard"
    if info.size < 0 or info.size > max_member_bytes:
        return f"member size {info.size} bytes exceeds the cap of {max_member_bytes} bytes"
    return None


def _check(shard: str, info: tarfile.TarInfo, max_member_bytes: int) -> None:
    problem = member_problem(info, max_member_bytes)
    if problem is not None:
        raise UnsafeShardError(shard, info.name, problem)


def validate_shard(path: str | os.PathLike, max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES) -> int:
    """Check every member header of the tar at ``path``; return the member count.

    Raises `UnsafeShardError` naming the first offending member, or when the file is not a
    readable tar at all.
    """
    shard = os.fspath(path)
    count = 0
    try:
        # Mode "r:" (uncompressed) so a gzip bomb disguised as a shard is refused, not inflated.
        with tarfile.open(shard, mode="r:") as tar:
            for info in tar:
                _check(shard, info, max_member_bytes)
                count += 1
    except tarfile.TarError as error:
        raise UnsafeShardError(shard, "<archive>", f"not a readable tar: {error}") from error
    return count


def _iter_stream(stream: IO[bytes], shard: str, max_member_bytes: int) -> Iterator[dict[str, Any]]:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for info in tar:
                _check(shard, info, max_member_bytes)
                handle = tar.extractfile(info)
                data = handle.read() if handle is not None else b""
                yield {"fname": info.name, "data": data, "__url__": shard}
    except tarfile.TarError as error:
        raise UnsafeShardError(shard, "<archive>", f"not a readable tar: {error}") from error


def safe_tar_file_expander(
    data: Iterable[dict[str, Any]],
    handler: Any = None,
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
) -> Iterator[dict[str, Any]]:
    """WebDataset stage: ``{"url", "stream"}`` dicts -> ``{"fname", "data", "__url__"}`` members.

    Drop-in for `webdataset.tariterators.tar_file_expander`; every member header is checked
    before its bytes are read. ``handler`` follows WebDataset's error policy (None re-raises).
    """
    for source in data:
        url = str(source.get("url", "<stream>"))
        try:
            yield from _iter_stream(source["stream"], url, max_member_bytes)
        except UnsafeShardError as error:
            if handler is None or not handler(error):
                raise
        finally:
            stream = source.get("stream")
            if stream is not None and hasattr(stream, "close"):
                stream.close()


def group_members(members: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Group consecutive members by key (name up to the first dot of the basename) into samples."""
    current: dict[str, Any] | None = None
    for member in members:
        dirname, basename = posixpath.split(member["fname"])
        stem, dot, ext = basename.partition(".")
        if not dot:
            continue
        key = posixpath.join(dirname, stem) if dirname else stem
        if current is None or current["__key__"] != key:
            if current is not None:
                yield current
            current = {"__key__": key, "__url__": member["__url__"]}
        if ext in current:
            raise UnsafeShardError(member["__url__"], member["fname"], f"duplicate field {ext!r} for key {key!r}")
        current[ext] = member["data"]
    if current is not None:
        yield current


def safe_tar_samples(
    urls: Iterable[str | os.PathLike],
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
) -> Iterator[dict[str, Any]]:
    """Yield WebDataset samples (``__key__`` + one bytes entry per extension) from local shards, safely."""

    def sources() -> Iterator[dict[str, Any]]:
        for url in urls:
            yield {"url": os.fspath(url), "stream": open(url, "rb")}  # noqa: SIM115 - closed by the expander

    yield from group_members(safe_tar_file_expander(sources(), max_member_bytes=max_member_bytes))


def safe_tarfile_to_samples(handler: Any = None, max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES):
    """A WebDataset pipeline stage (like ``wds.tarfile_to_samples``) that checks member headers first."""

    def stage(data: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        return group_members(safe_tar_file_expander(data, handler=handler, max_member_bytes=max_member_bytes))

    return stage
