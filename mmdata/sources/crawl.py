"""Web crawl: breadth-first, level by level, so the set of pages is the same on every run.

Each fetched HTML page is a sample: the page itself (text item, HTML kept) plus the images
and audio it embeds or links, with alt text and captions in their meta. Every URL met gets
exactly one row: fetched, refused (scheme, off-site, robots, private address), capped
(max_pages / max_depth) or failed. Pages are followed on the start hosts and the allow-list
only; media may come from any public host, like a browser would load them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from mmdata import fields
from mmdata.ingest.items import UNKNOWN_MODALITY, URL, VERDICT, Item
from mmdata.ingest.journal import JournalEntry
from mmdata.manifest import DROPPED, OK
from mmdata.net.urls import host_of, normalize_url, redact_url, scheme_refusal
from mmdata.sources.html_links import MediaRef, extract_links
from mmdata.sources.keys import sanitize_key, short_hash
from mmdata.sources.robots import RobotsCache, origin_of, sitemap_urls

if TYPE_CHECKING:
    from mmdata.ingest.run import IngestRun

SOURCE = "crawl"
log = logging.getLogger(__name__)


def page_key(url: str) -> str:
    """Readable, unique and stable key of a page URL."""
    parts = url.split("://", 1)[-1].rsplit("@", 1)[-1]
    return f"{sanitize_key(parts)[:64].rstrip('_-')}-{short_hash(url, 8)}"


class Crawler:
    def __init__(self, run: IngestRun, starts: list[str]):
        self.run = run
        self.cfg = run.cfg
        self.starts = [normalize_url(s) for s in starts]
        self.site_hosts = {host_of(s) for s in self.starts} | {h.lower() for h in self.cfg.allowed_hosts}
        self.robots = RobotsCache(run.downloader, self.cfg.user_agent)
        self.met: set[str] = set()
        self.pages_admitted = 0

    def _page_item(self, url: str, depth: int, verdict: tuple[str, str] | None = None) -> Item:
        return Item(
            item_id=f"crawl:{url}", key=page_key(url), modality=UNKNOWN_MODALITY if verdict else fields.TEXT,
            uri=redact_url(url), source=SOURCE, kind=VERDICT if verdict else URL, path=url,
            meta={"depth": depth}, verdict=verdict,
        )

    def _media_item(self, page_url: str, ref: MediaRef, verdict: tuple[str, str] | None) -> Item:
        meta = {"page": redact_url(page_url), "alt": ref.alt, "caption": ref.caption}
        return Item(
            item_id=f"crawl:{page_url}|{ref.url}", key=page_key(page_url), modality=ref.modality,
            uri=redact_url(ref.url), source=SOURCE, kind=VERDICT if verdict else URL, path=ref.url,
            meta=meta, verdict=verdict,
        )

    def _on_site(self, host: str) -> bool:
        """Start hosts and allow-list entries; ``*.example.org`` allows every sub-domain."""
        return host in self.site_hosts or any(
            h.startswith("*.") and (host.endswith(h[1:]) or host == h[2:]) for h in self.site_hosts
        )

    async def _refusal(self, url: str, follow: bool) -> str | None:
        reason = scheme_refusal(url)
        if reason:
            return reason
        if follow and not self._on_site(host_of(url)):
            return f"off_site: {host_of(url)}"
        if self.cfg.respect_robots:
            return await self.robots.refusal(url)
        return None

    async def _sitemap_pages(self) -> list[str]:
        if not self.cfg.use_sitemap:
            return []
        found: list[str] = []
        for origin in dict.fromkeys(origin_of(s) for s in self.starts if not scheme_refusal(s)):
            if self.cfg.respect_robots:
                await self.robots.refusal(origin + "/")  # loads robots.txt and its Sitemap: lines
            found += await sitemap_urls(self.run.downloader, origin, self.robots.sitemaps.get(origin, []))
        return [normalize_url(u) for u in found]

    async def crawl(self) -> None:
        level = sorted(set(self.starts))
        sitemap = await self._sitemap_pages()
        for depth in range(self.cfg.max_depth + 1):
            fresh = [u for u in dict.fromkeys(level) if u not in self.met]
            self.met.update(fresh)
            refusals = await asyncio.gather(*(self._refusal(u, follow=True) for u in fresh))
            admitted: list[str] = []
            for url, refusal in zip(fresh, refusals, strict=True):
                if refusal:
                    await self.run.resolve(self._page_item(url, depth, (DROPPED, refusal)))
                elif self.pages_admitted >= self.cfg.max_pages:
                    await self.run.resolve(self._page_item(url, depth, (DROPPED, f"max_pages: cap {self.cfg.max_pages}")))
                else:
                    self.pages_admitted += 1
                    admitted.append(url)
            found = await asyncio.gather(*(self._visit(url, depth) for url in admitted))
            links = [u for page_links in found for u in page_links]
            if depth == 0:
                links += sitemap
            level = sorted(set(links) - self.met)
        for url in level:  # links of the deepest level: met, not followed
            self.met.add(url)
            await self.run.resolve(self._page_item(url, self.cfg.max_depth + 1, (DROPPED, f"max_depth: {self.cfg.max_depth}")))

    async def _visit(self, url: str, depth: int) -> list[str]:
        """Fetch one page and its media; return the pages it links to."""
        page = await self.run.resolve(self._page_item(url, depth))
        if page.status != OK or page.mime != "text/html":
            return []
        html = await asyncio.to_thread(self.run.store.get, page.sha256)
        base = page.final_url or url
        try:
            links = await asyncio.to_thread(
                extract_links, html, base if "***@" not in base else url, self.cfg.max_links_per_page
            )
        except Exception:  # a page the parser chokes on is still a stored sample, just a leaf
            log.warning("could not parse links of %s", redact_url(url), exc_info=True)
            return []
        if links.truncated:
            log.warning("%s has more than %d links; the rest were not read", redact_url(url), self.cfg.max_links_per_page)
        await asyncio.gather(*(self._media(url, ref) for ref in links.media))
        return links.pages

    async def _media(self, page_url: str, ref: MediaRef) -> JournalEntry:
        refusal = await self._refusal(ref.url, follow=False)
        return await self.run.resolve(self._media_item(page_url, ref, (DROPPED, refusal) if refusal else None))


async def crawl_sites(run: IngestRun, starts: list[str]) -> None:
    """Crawl from ``starts`` (all start hosts together), resolving every URL met through ``run``."""
    await Crawler(run, starts).crawl()
