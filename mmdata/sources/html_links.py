"""Links and media of an HTML page: what the crawler follows and what becomes part of the sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from mmdata import fields
from mmdata.net.urls import normalize_url


@dataclass(frozen=True)
class MediaRef:
    """An image or audio the page embeds or links, with the words the page gives it."""

    url: str
    modality: str
    alt: str = ""
    caption: str = ""


@dataclass
class PageLinks:
    title: str = ""
    pages: list[str] = field(default_factory=list)  # in document order, unique
    media: list[MediaRef] = field(default_factory=list)
    truncated: bool = False  # more links than the cap: the rest of the page was not read


def media_modality_of_url(url: str) -> str | None:
    """image / audio when the URL path ends in a media extension (how `<a href>` to media is spotted)."""
    suffix = PurePosixPath(urlsplit(url).path).suffix
    modality = fields.modality_of_extension(suffix) if suffix else None
    return modality if modality in (fields.IMAGE, fields.AUDIO) else None


class _LinkCapReached(Exception):
    pass


class _LinkParser(HTMLParser):
    def __init__(self, base: str, max_links: int):
        super().__init__(convert_charrefs=True)
        self.base = base
        self.max_links = max_links
        self.links = PageLinks()
        self._seen: set[str] = set()
        self._in_title = False
        self._media_stack: list[str] = []  # open <audio>/<picture>/<video> elements
        self._figure: list[int] | None = None  # indexes of media inside the open <figure>
        self._caption: list[str] | None = None

    def _absolute(self, raw: str | None) -> str | None:
        if not raw or raw.strip().startswith(("#", "data:")):
            return None
        try:
            return normalize_url(raw, self.base)
        except ValueError:
            return None

    def _count_one(self) -> None:
        if len(self._seen) >= self.max_links:
            raise _LinkCapReached

    def _add_media(self, raw: str | None, modality: str, alt: str = "") -> None:
        url = self._absolute(raw)
        if url is None or ("media", url) in self._seen:
            return
        self._count_one()
        self._seen.add(("media", url))
        if self._figure is not None:
            self._figure.append(len(self.links.media))
        self.links.media.append(MediaRef(url, modality, alt.strip()))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "base" and a.get("href"):
            self.base = self._absolute(a["href"]) or self.base
        elif tag == "title":
            self._in_title = True
        elif tag == "img":
            self._add_media(a.get("src"), fields.IMAGE, a.get("alt") or a.get("title") or "")
        elif tag in ("audio", "picture", "video"):
            self._media_stack.append(tag)
            if tag == "audio":
                self._add_media(a.get("src"), fields.AUDIO, a.get("title") or "")
        elif tag == "source" and self._media_stack:
            modality = {"audio": fields.AUDIO, "picture": fields.IMAGE}.get(self._media_stack[-1])
            if modality:
                self._add_media(a.get("src") or (a.get("srcset") or "").split(" ")[0], modality)
        elif tag == "a":
            url = self._absolute(a.get("href"))
            if url is None:
                return
            modality = media_modality_of_url(url)
            if modality:
                self._add_media(url, modality, a.get("title") or "")
            elif ("page", url) not in self._seen:
                self._count_one()
                self._seen.add(("page", url))
                self.links.pages.append(url)
        elif tag == "figure":
            self._figure = []
        elif tag == "figcaption" and self._figure is not None:
            self._caption = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in ("audio", "picture", "video") and self._media_stack:
            self._media_stack.pop()
        elif tag == "figcaption" and self._caption is not None and self._figure is not None:
            caption = " ".join("".join(self._caption).split())
            for index in self._figure:
                ref = self.links.media[index]
                self.links.media[index] = MediaRef(ref.url, ref.modality, ref.alt, caption)
            self._caption = None
        elif tag == "figure":
            self._figure = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.links.title += data
        if self._caption is not None:
            self._caption.append(data)


def extract_links(html: bytes, base_url: str, max_links: int = 5000) -> PageLinks:
    """Pages linked from and media embedded in ``html`` (URLs absolute and normalised).

    At most ``max_links`` distinct URLs are taken, in document order: a hostile page with a
    million links must not turn into a million manifest rows.
    """
    parser = _LinkParser(base_url, max_links)
    try:
        parser.feed(html.decode("utf-8", "replace"))
        parser.close()
    except _LinkCapReached:
        parser.links.truncated = True
    parser.links.title = " ".join(parser.links.title.split())
    return parser.links
