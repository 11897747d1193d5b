"""Crawl a real loopback site: every URL met has exactly one row with the right state."""

from __future__ import annotations

import json

import pytest

from mmdata.ingest.config import IngestConfig
from mmdata.ingest.run import run_ingest
from mmdata.manifest import read_raw_manifest
from mmdata.sources.crawl import page_key
from mmdata.sources.html_links import extract_links
from tests.mmdata.net.site import Site


@pytest.fixture(scope="module")
def site():
    with Site() as running:
        yield running


def crawl(site, out, **overrides):
    values = dict(crawl=[site.url("/")], out=str(out), allow_private_network=True, max_depth=2, max_pages=50,
                  timeout_s=2, retries=0, progress=False)
    values.update(overrides)
    run_ingest(IngestConfig(**values))
    return read_raw_manifest(out)


@pytest.fixture(scope="module")
def crawled(site, tmp_path_factory):
    return crawl(site, tmp_path_factory.mktemp("crawl") / "raw")


def by_uri(frame, uri, modality=None):
    rows = frame[(frame["uri"] == uri) & ((frame["modality"] == modality) if modality else True)]
    assert len(rows) == 1, (uri, rows)
    return rows.iloc[0].to_dict()


def test_every_page_url_met_has_one_row(crawled, site):
    u = site.url
    pages = crawled[crawled["modality"].isin(["text", "unknown"])]
    expected = {
        u("/"): ("ok", ""), u("/a.html"): ("ok", ""), u("/b.html"): ("ok", ""), u("/deep1.html"): ("ok", ""),
        u("/deep2.html"): ("ok", ""), u("/orphan.html"): ("ok", ""),  # orphan: known from sitemap.xml only
        u("/private/secret.html"): ("dropped", "robots_disallowed"),
        "http://offsite.invalid/page.html": ("dropped", "off_site: offsite.invalid"),
        "mailto:me@example.com": ("dropped", "unsupported_scheme: mailto"),
        u("/missing.html"): ("failed", "http_404: Not Found"),
        u("/deep3.html"): ("dropped", "max_depth: 2"),
    }
    got = {r.uri: (r.status, r.reason) for r in pages.itertuples()}
    assert got == expected


def test_page_sample_holds_its_media_with_alt_and_caption(crawled, site):
    home = crawled[crawled["key"] == page_key(site.url("/"))]
    assert sorted(zip(home["modality"], home["status"], strict=True)) == [
        ("audio", "ok"), ("image", "ok"), ("image", "ok"), ("text", "ok")]
    cat = by_uri(home, site.url("/img/cat.png"))
    assert json.loads(cat["meta"]) == {"alt": "a cat", "caption": "Our cat, sleeping", "page": site.url("/")}
    assert by_uri(home, site.url("/audio/beep.wav"))["mime"] == "audio/wav"
    assert by_uri(home, site.url("/img/dog.jpg"))["mime"] == "image/jpeg"  # an <a href> to media
    assert by_uri(home, site.url("/"), "text")["mime"] == "text/html"
    wrong = by_uri(crawled, site.url("/img/wrongtype"))
    assert (wrong["status"], wrong["mime"]) == ("ok", "image/png")  # Content-Type said text/html


def test_media_shared_by_pages_is_fetched_once_and_counted_as_duplicate(crawled, site):
    cats = crawled[crawled["uri"] == site.url("/img/cat.png")]
    assert len(cats) == 2 and set(cats["status"]) == {"ok"}  # one row per page that shows it
    assert site.hits("/img/cat.png") == 1
    duplicates = crawled[crawled["reason"].str.startswith("duplicate_content")]
    # cat.png on page a, cat-copy.png and /img/wrongtype (same bytes) repeat the first cat in key order.
    assert len(duplicates) == 3 and set(duplicates["sha256"]) == {cats.iloc[0]["sha256"]}


def test_page_cap_is_deterministic(site, tmp_path):
    first = crawl(site, tmp_path / "one", max_pages=3)
    second = crawl(site, tmp_path / "two", max_pages=3)
    fetched = first[(first["modality"] == "text")]
    capped = first[first["reason"] == "max_pages: cap 3"]
    assert len(fetched) == 3 and len(capped) >= 3
    assert first.drop(columns=["attempts"]).equals(second.drop(columns=["attempts"]))


def test_private_start_url_is_refused_without_the_flag(site, tmp_path):
    frame = crawl(site, tmp_path / "raw", allow_private_network=False)
    assert frame[["uri", "status", "reason"]].values.tolist() == [[site.url("/"), "dropped", "private_address: 127.0.0.1"]]


def test_extract_links_resolves_relative_urls_and_figures():
    html = b"""<html><head><base href="http://h.test/dir/"></head><body>
    <a href="p.html#x">p</a><a href="/p.html">again</a><a href="../snd.flac">sound</a><a href="#top">top</a>
    <picture><source srcset="big.webp 2x"></picture><img src="data:image/png;base64,xx">
    <figure><img src="i.png" alt="alt"><figcaption> A  caption </figcaption></figure></body></html>"""
    links = extract_links(html, "http://h.test/ignored")
    assert links.pages == ["http://h.test/dir/p.html", "http://h.test/p.html"]
    assert [(m.url, m.modality, m.alt, m.caption) for m in links.media] == [
        ("http://h.test/snd.flac", "audio", "", ""), ("http://h.test/dir/big.webp", "image", "", ""),
        ("http://h.test/dir/i.png", "image", "alt", "A caption")]


def test_robots_crawl_delay_spaces_requests_to_that_host(site):
    import asyncio
    import time

    from mmdata.net.download import Downloader, DownloadPolicy
    from mmdata.sources.robots import RobotsCache

    async def two_fetches_after_robots() -> float:
        async with Downloader(DownloadPolicy(allow_private_network=True)) as downloader:
            robots = RobotsCache(downloader, "mmpipe-test")
            assert await robots.refusal(site.url("/a.html")) is None
            assert await robots.refusal(site.url("/private/secret.html")) == "robots_disallowed"
            started = time.monotonic()
            await asyncio.gather(downloader.fetch(site.url("/a.html?d=1")), downloader.fetch(site.url("/b.html?d=2")))
            return time.monotonic() - started

    site.handler.crawl_delay = 1
    try:
        assert asyncio.run(two_fetches_after_robots()) >= 0.95
    finally:
        site.handler.crawl_delay = 0


def test_allow_list_wildcards():
    from types import SimpleNamespace

    from mmdata.sources.crawl import Crawler

    cfg = SimpleNamespace(allowed_hosts=["*.example.org"], user_agent="ua")
    crawler = Crawler(SimpleNamespace(cfg=cfg, downloader=None), ["http://start.test/"])
    assert crawler._on_site("start.test") and crawler._on_site("a.b.example.org") and crawler._on_site("example.org")
    assert not crawler._on_site("example.org.evil.test") and not crawler._on_site("other.test")


def test_links_per_page_are_capped():
    html = ("<html><body>" + "".join(f"<a href='/p{i}'>x</a><img src='/i{i}.png'>" for i in range(3000))
            + "</body></html>").encode()
    links = extract_links(html, "http://h.test/", max_links=100)
    assert links.truncated and len(links.pages) + len(links.media) == 100
    assert links.pages[:2] == ["http://h.test/p0", "http://h.test/p1"]  # document order kept
    assert not extract_links(html, "http://h.test/", max_links=6000).truncated
