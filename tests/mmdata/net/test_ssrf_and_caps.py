"""The guard holds on every redirect hop and DNS answer; caps hold for chunked and compressed bodies;
credentials are never forwarded to another host nor written to logs or manifests."""

from __future__ import annotations

import asyncio
import logging
import socket
from urllib.parse import quote

import pytest
from aiohttp.abc import AbstractResolver

from mmdata.ingest.run import run_ingest
from mmdata.manifest import read_raw_manifest
from mmdata.net.download import Downloader, DownloadPolicy
from mmdata.net.guard import PublicOnlyResolver
from tests.mmdata.net.site import Site
from tests.mmdata.net.test_download_rows import fast_config, write_table
from tests.mmdata.net.test_guard import FixedAnswers

SITE_HOST = "site.test"


@pytest.fixture(scope="module")
def site():
    with Site() as running:
        yield running


class SiteThenDns(AbstractResolver):
    """Test DNS: ``site.test`` is the loopback site (standing in for a public host); every other name
    gets ``other_answer``, judged by the real `PublicOnlyResolver` as in production."""

    def __init__(self, other_answer: str):
        self.others = PublicOnlyResolver(FixedAnswers(other_answer))

    async def resolve(self, host, port=0, family=socket.AF_INET):
        if host == SITE_HOST:
            return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": family, "proto": 0, "flags": 0}]
        return await self.others.resolve(host, port, family)

    async def close(self) -> None:
        await self.others.close()


def fetch(url: str, other_answer: str = "93.184.216.34", **policy):
    async def go():
        values = dict(allow_private_network=False, retries=0, timeout_s=2.0)
        values.update(policy)
        async with Downloader(DownloadPolicy(**values), resolver=SiteThenDns(other_answer)) as downloader:
            return await downloader.fetch(url)

    return asyncio.run(go())


def redirect_to(site: Site, target: str) -> str:
    return f"http://{SITE_HOST}:{site.port}/redirect?to={quote(target, safe='')}"


def test_the_test_dns_reaches_the_site_as_a_public_host(site):
    result = fetch(f"http://{SITE_HOST}:{site.port}/img/cat.png?c=dns")
    assert (result.status, result.http_status) == ("ok", 200)


@pytest.mark.parametrize(("target", "reason"), [
    ("http://127.0.0.1:{port}/img/cat.png?c=loop", "private_address: 127.0.0.1"),
    ("http://169.254.169.254/latest/meta-data/", "private_address: 169.254.169.254"),
    ("http://[::1]:{port}/img/cat.png?c=v6", "private_address: ::1"),
    ("http://10.0.0.8/admin", "private_address: 10.0.0.8"),
    ("file:///etc/passwd", "unsupported_scheme: file"),
    ("gopher://127.0.0.1:6379/_FLUSHALL", "unsupported_scheme: gopher"),
])
def test_redirect_to_a_private_literal_or_another_scheme_is_refused(site, target, reason):
    target = target.format(port=site.port)
    result = fetch(redirect_to(site, target))
    assert (result.status, result.reason) == ("dropped", reason)
    assert site.hits("/img/cat.png?c=loop") == site.hits("/img/cat.png?c=v6") == 0


def test_redirect_to_a_name_answering_a_private_address_is_refused(site):
    result = fetch(redirect_to(site, f"http://metadata.internal.test:{site.port}/img/cat.png?c=name"),
                   other_answer="169.254.169.254")
    assert (result.status, result.reason) == ("dropped", "private_address: 169.254.169.254")
    assert site.hits("/img/cat.png?c=name") == 0


def test_private_targets_are_reached_only_when_allowed(site):
    target = site.url("/img/cat.png?c=allowed")
    assert fetch(redirect_to(site, target), allow_private_network=True).status == "ok"
    assert site.hits("/img/cat.png?c=allowed") == 1


def test_compressed_chunked_bomb_stops_at_the_decompressed_cap(site):
    result = fetch(f"http://{SITE_HOST}:{site.port}/gzip-bomb-chunked", max_bytes=10_000_000,
                   max_decompressed_bytes=1_000_000)
    assert (result.status, result.reason) == ("dropped", "too_large_decompressed: > cap 1000000")
    assert result.body == b""


def test_compressed_body_is_capped_on_the_wire_too(site):
    result = fetch(f"http://{SITE_HOST}:{site.port}/gzip-bomb-chunked", max_bytes=5_000,
                   max_decompressed_bytes=10**9)
    assert result.status == "dropped" and result.reason.startswith("too_large: ")


def test_chunked_compressed_slow_loris_meets_the_time_cap(site):
    result = fetch(f"http://{SITE_HOST}:{site.port}/drip-chunked", timeout_s=0.6)
    assert (result.status, result.reason) == ("failed", "timeout: no complete response within 0.6 s")


def test_credentials_are_not_forwarded_across_hosts_nor_logged(site, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    creds = "alice:hunter2secret"
    table = tmp_path / "t.jsonl"
    write_table(table, [
        # Same host: the credentials are used for this request only...
        {"key": "direct", "image": f"http://{creds}@127.0.0.1:{site.port}/auth"},
        # ...and never follow a redirect to another host (localhost vs 127.0.0.1): 401 there.
        {"key": "cross_host", "image": f"http://{creds}@127.0.0.1:{site.port}/redirect?to="
                                       + quote(f"http://localhost:{site.port}/auth", safe="")},
        {"key": "retried", "image": f"http://{creds}@127.0.0.1:{site.port}/always500?c=creds"},
        {"key": "timeout", "image": f"http://{creds}@127.0.0.1:{site.port}/hang?c=creds"},
    ])
    run_ingest(fast_config(tmp_path / "raw", [table], retries=1))
    frame = read_raw_manifest(tmp_path / "raw").set_index("key")
    assert frame.loc["direct", "status"] == "ok"
    assert (frame.loc["cross_host", "status"], frame.loc["cross_host", "reason"]) == ("failed", "http_401: Unauthorized")
    assert frame.loc["retried", "attempts"] == 2 and frame.loc["timeout", "status"] == "failed"
    assert "retry 1 of" in caplog.text  # the retry path did log, with the URL...
    for text in (caplog.text, (tmp_path / "raw" / "journal.jsonl").read_text(),
                 (tmp_path / "raw" / "manifest.parquet").read_bytes().decode("latin-1")):
        assert "hunter2secret" not in text and "alice:" not in text  # ...but never the credentials
