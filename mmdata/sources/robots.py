"""robots.txt and sitemap.xml, fetched through the guarded downloader and cached per origin."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from mmdata.manifest import DROPPED, OK
from mmdata.net.download import Downloader

_LOC = re.compile(rb"<loc>\s*([^<\s]+)\s*</loc>", re.IGNORECASE)
MAX_SITEMAPS = 10


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


class RobotsCache:
    """One parsed robots.txt per origin, fetched on first use.

    Following RFC 9309: a 4xx (no robots.txt) allows everything; a server error or an
    unreachable host disallows everything until a later run.
    """

    def __init__(self, downloader: Downloader, user_agent: str):
        self.downloader = downloader
        self.user_agent = user_agent
        self._parsers: dict[str, asyncio.Task[RobotFileParser | None]] = {}
        self.sitemaps: dict[str, list[str]] = {}

    async def _load(self, origin: str) -> RobotFileParser | None:
        result = await self.downloader.fetch(f"{origin}/robots.txt")
        parser = RobotFileParser()
        if result.status == OK:
            lines = result.body.decode("utf-8", "replace").splitlines()
            parser.parse(lines)
            self.sitemaps[origin] = [line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("sitemap:")]
            delay = parser.crawl_delay(self.user_agent)
            if delay:
                self.downloader.slow_down(urlsplit(origin).hostname or "", float(delay))
            return parser
        if 400 <= result.http_status < 500 or result.status == DROPPED:
            # No robots.txt, or the origin is refused by policy anyway (private address, scheme):
            # the page's own row then says why, not a robots failure.
            parser.parse([])
            return parser
        return None

    async def refusal(self, url: str) -> str | None:
        """``robots_disallowed`` / ``robots_unavailable: ...`` or None when fetching is allowed."""
        origin = origin_of(url)
        if origin not in self._parsers:
            # One fetch per origin even when many of its pages are checked at once.
            self._parsers[origin] = asyncio.ensure_future(self._load(origin))
        parser = await self._parsers[origin]
        if parser is None:
            return f"robots_unavailable: {origin}/robots.txt"
        return None if parser.can_fetch(self.user_agent, url) else "robots_disallowed"


async def sitemap_urls(downloader: Downloader, origin: str, listed: list[str]) -> list[str]:
    """Page URLs from the sitemaps robots.txt lists, else ``/sitemap.xml`` (one level of index)."""
    queue = list(dict.fromkeys(listed or [f"{origin}/sitemap.xml"]))
    found: list[str] = []
    fetched = 0
    while queue and fetched < MAX_SITEMAPS:
        result = await downloader.fetch(queue.pop(0))
        fetched += 1
        if result.status != OK:
            continue
        locs = [m.decode("utf-8", "replace") for m in _LOC.findall(result.body)]
        if b"<sitemapindex" in result.body[:2048].lower():
            queue.extend(locs)
        else:
            found.extend(locs)
    return list(dict.fromkeys(found))
