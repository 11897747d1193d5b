"""Every misbehaviour of a real loopback server ends in the exact manifest row (URL-table ingest)."""

from __future__ import annotations

import ipaddress
import json
import time

import pandas as pd
import pytest

from mmdata.ingest.config import IngestConfig
from mmdata.ingest.run import run_ingest
from mmdata.manifest import read_raw_manifest
from mmdata.store import RawStore, sha256_of
from tests.mmdata.net.site import CAT_PNG, DUP_TEXT, Site


@pytest.fixture(scope="module")
def site():
    with Site() as running:
        yield running


def fast_config(out, tables, **overrides) -> IngestConfig:
    values = dict(
        tables=[str(t) for t in tables], out=str(out), allow_private_network=True, timeout_s=0.5, retries=1,
        backoff_s=0.01, max_bytes=100_000, max_decompressed_bytes=1_000_000, max_redirects=3, progress=False,
    )
    values.update(overrides)
    return IngestConfig(**values)


def write_table(path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def url_manifest(site, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("urls")
    u = site.url
    image_cases = {
        "ok_png": u("/img/cat.png?c=ok"), "not_found": u("/nope"), "flaky": u("/flaky?c=1"),
        "ratelimited": u("/ratelimited?c=1"), "hang": u("/hang"), "truncated": u("/truncated"),
        "oversized": u("/oversized"), "oversized_chunked": u("/oversized-chunked"), "loop": u("/loop1"),
        "chain": u("/chain0"), "to_ftp": u("/to-ftp"), "moved": u("/moved"), "wrongtype": u("/img/wrongtype"),
        "empty": u("/empty"), "zip": u("/zip"), "text_as_image": u("/text.txt"), "always500": u("/always500"),
        "auth": f"http://user:secret@127.0.0.1:{site.port}/auth", "ftp_cell": "ftp://127.0.0.1/x.png",
        "auth_echo": u("/auth-echo"),
    }
    rows = [{"key": k, "image": v, "label": "x"} for k, v in image_cases.items()]
    rows += [
        {"key": "dup1", "text": u("/dup1.txt")}, {"key": "dup2", "text": u("/dup2.txt")},
        {"key": "gzip_text", "text": u("/gzip-text")}, {"key": "gzip_bomb", "text": u("/gzip-bomb")},
        {"key": "deflate_text", "text": u("/deflate-text")}, {"key": "brotli", "text": u("/brotli")},
        {"key": "drip", "text": u("/drip")},
        {"key": "inline", "text": "words typed into the table", "source_id": 7},
    ]
    table = tmp / "urls.jsonl"
    write_table(table, rows)
    summary = run_ingest(fast_config(tmp / "raw", [table]))
    frame = read_raw_manifest(tmp / "raw")
    return frame.set_index("key"), summary, tmp / "raw"


def row(frame: pd.DataFrame, key: str) -> dict:
    return frame.loc[key].to_dict()


def test_good_and_recovering_urls_are_ok(url_manifest, site):
    frame, _, raw = url_manifest
    good = row(frame, "ok_png")
    assert (good["status"], good["mime"], good["attempts"], good["http_status"]) == ("ok", "image/png", 1, 200)
    assert RawStore(raw / "objects").get(good["sha256"]) == CAT_PNG
    for key in ("flaky", "ratelimited"):
        assert (row(frame, key)["status"], row(frame, key)["attempts"]) == ("ok", 2)
    moved = row(frame, "moved")
    assert (moved["status"], moved["mime"], moved["final_url"]) == ("ok", "image/jpeg", site.url("/img/dog.jpg"))
    assert (row(frame, "wrongtype")["status"], row(frame, "wrongtype")["mime"]) == ("ok", "image/png")
    assert row(frame, "gzip_text")["bytes"] == len(b"compressed words\n")
    assert row(frame, "deflate_text")["bytes"] == len(b"deflated words\n")


def test_retry_after_is_honoured(url_manifest, site):
    # The second request of /ratelimited came after the 1 s the server asked for.
    assert site.hits("/ratelimited?c=1") == 2
    first, second = site.handler.hit_times["/ratelimited?c=1"]
    assert second - first >= 0.95
    flaky_first, flaky_second = site.handler.hit_times["/flaky?c=1"]
    assert flaky_second - flaky_first < 0.9  # no Retry-After: the short backoff, not a second


@pytest.mark.parametrize(
    ("key", "status", "reason", "attempts"),
    [
        ("not_found", "failed", "http_404: Not Found", 1),
        ("always500", "failed", "http_503: Service Unavailable", 2),
        ("hang", "failed", "timeout: no complete response within 0.5 s", 2),
        ("drip", "failed", "timeout: no complete response within 0.5 s", 2),  # a slow body meets the same cap
        ("oversized", "dropped", "too_large: 300000 > cap 100000", 1),
        ("to_ftp", "dropped", "unsupported_scheme: ftp", 1),
        ("chain", "failed", "too_many_redirects: > cap 3", 1),
        ("empty", "dropped", "empty_file", 1),
        ("zip", "dropped", "unsupported_type: application/zip", 1),
        ("text_as_image", "dropped", "unexpected_type: text/plain (expected image)", 1),
        ("gzip_bomb", "dropped", "too_large_decompressed: > cap 1000000", 1),
        ("ftp_cell", "dropped", "unsupported_scheme: ftp", 0),
        ("brotli", "dropped", "unsupported_encoding: br", 1),
    ],
)
def test_misbehaviour_rows(url_manifest, key, status, reason, attempts):
    got = row(url_manifest[0], key)
    assert (got["status"], got["reason"], got["attempts"]) == (status, reason, attempts)
    if status != "ok":
        assert got["sha256"] == ""


def test_per_host_rate_limit_spaces_requests(site):
    import asyncio

    from mmdata.net.download import Downloader, DownloadPolicy

    async def fetch_all() -> float:
        policy = DownloadPolicy(allow_private_network=True, per_host_rate=20.0)
        async with Downloader(policy) as downloader:
            started = time.monotonic()
            results = await asyncio.gather(*(downloader.fetch(site.url(f"/text.txt?rate={i}")) for i in range(9)))
            assert {r.status for r in results} == {"ok"}
            return time.monotonic() - started

    assert asyncio.run(fetch_all()) >= 8 / 20.0 * 0.95  # 9 starts, 50 ms apart


def test_redirect_loop_and_truncation_and_chunked_cap(url_manifest, site):
    frame = url_manifest[0]
    assert row(frame, "loop")["reason"] == f"redirect_loop: {site.url('/loop1')}"
    truncated = row(frame, "truncated")
    assert truncated["status"] == "failed" and truncated["attempts"] == 2
    assert truncated["reason"] == f"truncated: got 40 of {len(CAT_PNG)} bytes"
    chunked = row(frame, "oversized_chunked")
    reason_id, detail = chunked["reason"].split(": ", 1)
    assert chunked["status"] == "dropped" and reason_id == "too_large"
    assert int(detail.split(" > ")[0]) > 100_000 and detail.endswith("> cap 100000")


def test_duplicate_content_is_counted_and_stored_once(url_manifest):
    frame, summary, raw = url_manifest
    first, second = row(frame, "dup1"), row(frame, "dup2")
    digest = sha256_of(DUP_TEXT)
    assert first["status"] == second["status"] == "ok" and first["sha256"] == second["sha256"] == digest
    assert (first["reason"], second["reason"]) == ("", f"duplicate_content: {digest}")
    assert second["duplicate_of"] == first["uri"]
    # CAT_PNG is served under five URLs (ok_png, flaky, ratelimited, wrongtype, auth): 4 + dup2.
    assert summary.duplicates == 5
    assert (frame["reason"] == f"duplicate_content: {sha256_of(CAT_PNG)}").sum() == 4
    assert len(list((raw / "objects").rglob(digest))) == 1


def test_credentials_are_redacted_everywhere(url_manifest, site):
    frame, _, raw = url_manifest
    auth = row(frame, "auth")
    assert auth["status"] == "ok"  # the credentials were used for the request...
    assert auth["uri"] == f"http://***@127.0.0.1:{site.port}/auth"  # ...but never written down
    assert b"secret" not in (raw / "manifest.parquet").read_bytes()
    assert "secret" not in (raw / "journal.jsonl").read_text()
    # A redirect that hands out a URL with credentials: followed, never written down either.
    assert row(frame, "auth_echo")["reason"].startswith("redirect_loop: ")


def test_inline_text_and_meta_columns(url_manifest):
    frame, _, raw = url_manifest
    table = raw.parent / "urls.jsonl"
    index = [json.loads(line)["key"] for line in table.read_text().splitlines()].index("inline")
    inline = row(frame, "inline")
    assert inline["status"] == "ok" and inline["uri"] == f"inline:{table.as_posix()}#{index}"
    assert json.loads(inline["meta"]) == {"source_id": 7}


def test_private_addresses_are_refused_by_default(site, tmp_path):
    table = tmp_path / "t.jsonl"
    write_table(table, [
        {"key": "literal", "image": site.url("/img/cat.png?c=private")},
        {"key": "named", "image": f"http://localhost:{site.port}/img/cat.png?c=named"},
        {"key": "mapped", "image": f"http://[::ffff:127.0.0.1]:{site.port}/img/cat.png"},
    ])
    run_ingest(fast_config(tmp_path / "raw", [table], allow_private_network=False))
    frame = read_raw_manifest(tmp_path / "raw").set_index("key")
    assert row(frame, "literal")["reason"] == "private_address: 127.0.0.1"
    assert row(frame, "named")["reason"] in ("private_address: 127.0.0.1", "private_address: ::1")
    assert row(frame, "mapped")["reason"] == f"private_address: {ipaddress.ip_address('::ffff:127.0.0.1')}"
    assert set(frame["status"]) == {"dropped"}
    assert site.hits("/img/cat.png?c=private") == 0 and site.hits("/img/cat.png?c=named") == 0
