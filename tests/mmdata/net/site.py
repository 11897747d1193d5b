"""A small misbehaving web site on 127.0.0.1 for ingest tests (real http.server in a thread).

Pages link to real PNG/JPEG (OpenCV) and WAV (soundfile) media; other paths misbehave on
purpose: 404, 500-then-200, 429 with Retry-After, hanging, truncated, oversized, redirect
loop, redirect to ftp://, an open redirect (?to=), wrong Content-Type, robots.txt disallow,
duplicate content, gzip bombs (with and without Content-Length), chunked slow-loris. Counters per full path (query included) let each test use fresh URLs.
"""

from __future__ import annotations

import gzip
import io
import sys
import threading
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import cv2
import numpy as np
import soundfile as sf


def png_bytes(value: int = 0, size: int = 16) -> bytes:
    image = np.full((size, size, 3), value, np.uint8)
    cv2.circle(image, (size // 2, size // 2), size // 3, (255, 255 - value, 0), -1)
    return cv2.imencode(".png", image)[1].tobytes()


def jpeg_bytes(value: int = 90) -> bytes:
    image = np.full((24, 24, 3), value, np.uint8)
    cv2.rectangle(image, (4, 4), (18, 18), (0, 0, 255), -1)
    return cv2.imencode(".jpg", image)[1].tobytes()


def wav_bytes(freq: float = 440.0) -> bytes:
    buf = io.BytesIO()
    t = np.arange(800) / 8000.0
    sf.write(buf, 0.3 * np.sin(2 * np.pi * freq * t), 8000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


CAT_PNG = png_bytes(10)
DOG_JPG = jpeg_bytes()
BEEP_WAV = wav_bytes()
OVERSIZED = b"x" * 300_000
DUP_TEXT = b"the very same words, twice\n"

PAGES = {
    "/": b"""<!doctype html><html><head><title>Home page</title></head><body>
<p>Welcome to the test site.</p>
<figure><img src="/img/cat.png" alt="a cat"><figcaption>Our cat, sleeping</figcaption></figure>
<audio controls><source src="/audio/beep.wav" type="audio/wav"></audio>
<a href="/img/dog.jpg">dog photo</a>
<a href="/a.html">A</a> <a href="b.html#frag">B</a> <a href="/private/secret.html">secret</a>
<a href="http://offsite.invalid/page.html">elsewhere</a> <a href="mailto:me@example.com">mail</a>
<a href="/deep1.html">deeper</a> <a href="/missing.html">gone</a>
</body></html>""",
    "/a.html": b"""<html><head><title>Page A</title></head><body><p>Cats are small.</p>
<img src="/img/cat.png" alt="cat again"><img src="/img/cat-copy.png" alt="copy"></body></html>""",
    "/b.html": b"""<html><head><title>Page B</title></head><body><p>Wrong type, right bytes.</p>
<img src="/img/wrongtype" alt="png served as html"></body></html>""",
    "/deep1.html": b"<html><body><p>one</p><a href='/deep2.html'>2</a></body></html>",
    "/deep2.html": b"<html><body><p>two</p><a href='/deep3.html'>3</a></body></html>",
    "/deep3.html": b"<html><body><p>three</p></body></html>",
    "/orphan.html": b"<html><body><p>only the sitemap knows me</p></body></html>",
    "/private/secret.html": b"<html><body>robots say no</body></html>",
}


class SiteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: Counter = Counter()
    crawl_delay: float = 0.0  # seconds announced in robots.txt
    hit_times: dict[str, list[float]] = {}
    lock = threading.Lock()

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "text/html", headers: dict | None = None,
              length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: C901 - one branch per misbehaviour is the point
        path, _, _query = self.path.partition("?")
        with self.lock:
            self.hits[self.path] += 1
            n = self.hits[self.path]
            self.hit_times.setdefault(self.path, []).append(time.monotonic())
        host = self.headers.get("Host", "")
        if path in PAGES:
            return self._send(200, PAGES[path])
        if path == "/robots.txt":
            delay = f"Crawl-delay: {self.crawl_delay}\n" if self.crawl_delay else ""
            robots = f"User-agent: *\nDisallow: /private/\n{delay}Sitemap: http://{host}/sitemap.xml\n"
            return self._send(200, robots.encode(), "text/plain")
        if path == "/sitemap.xml":
            body = f"<?xml version='1.0'?><urlset><url><loc>http://{host}/orphan.html</loc></url></urlset>".encode()
            return self._send(200, body, "application/xml")
        if path in ("/img/cat.png", "/img/cat-copy.png", "/media/cat.png"):
            return self._send(200, CAT_PNG, "image/png")
        if path == "/img/dog.jpg":
            return self._send(200, DOG_JPG, "image/jpeg")
        if path == "/img/wrongtype":
            return self._send(200, CAT_PNG, "text/html")
        if path == "/audio/beep.wav":
            return self._send(200, BEEP_WAV, "audio/wav")
        if path in ("/dup1.txt", "/dup2.txt"):
            return self._send(200, DUP_TEXT, "text/plain")
        if path == "/text.txt":
            return self._send(200, b"plain words from the web\n", "text/plain")
        if path == "/zip":
            return self._send(200, b"PK\x03\x04" + b"\x00" * 64, "application/octet-stream")
        if path == "/empty":
            return self._send(200, b"", "image/png")
        if path == "/flaky":
            return self._send(500, b"oops") if n == 1 else self._send(200, CAT_PNG, "image/png")
        if path == "/always500":
            return self._send(503, b"down")
        if path == "/ratelimited":
            return self._send(429, b"slow down", headers={"Retry-After": "1"}) if n == 1 else self._send(200, CAT_PNG, "image/png")
        if path == "/hang":
            time.sleep(3)
            return self._send(200, CAT_PNG, "image/png")
        if path == "/drip":
            # A slow-loris body: headers at once, then a byte every 100 ms for 3 s.
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "30")
            self.end_headers()
            for _ in range(30):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
            return None
        if path == "/truncated":
            self._send(200, CAT_PNG[:40], "image/png", length=len(CAT_PNG))
            self.close_connection = True
            return None
        if path == "/oversized":
            return self._send(200, OVERSIZED, "image/png")
        if path == "/oversized-chunked":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(10):
                chunk = CAT_PNG + b"\x00" * 40_000
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return None
        if path == "/gzip-bomb":
            body = gzip.compress(b"\x00" * 5_000_000)
            return self._send(200, body, "text/plain", headers={"Content-Encoding": "gzip"})
        if path == "/gzip-text":
            return self._send(200, gzip.compress(b"compressed words\n"), "text/plain", headers={"Content-Encoding": "gzip"})
        if path == "/brotli":
            return self._send(200, b"\x1b\x00\x00", "text/plain", headers={"Content-Encoding": "br"})
        if path == "/deflate-text":
            return self._send(200, zlib.compress(b"deflated words\n"), "text/plain", headers={"Content-Encoding": "deflate"})
        if path == "/redirect":
            # An open redirect: Location is whatever ?to= says (SSRF tests send it to private targets).
            return self._send(302, b"", headers={"Location": unquote(_query.removeprefix("to="))})
        if path == "/gzip-bomb-chunked":
            # A gzip bomb with no Content-Length: small compressed chunks that inflate without bound.
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            body = gzip.compress(b"\x00" * 20_000_000)
            for start in range(0, len(body), 4096):
                chunk = body[start : start + 4096]
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return None
        if path == "/drip-chunked":
            # A slow-loris body with neither Content-Length nor an end: a gzip chunk every 100 ms.
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            body = gzip.compress(np.random.default_rng(0).bytes(600))  # incompressible: ~38 chunks, ~4 s
            for start in range(0, len(body), 16):
                chunk = body[start : start + 16]
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
                time.sleep(0.1)
            self.wfile.write(b"0\r\n\r\n")
            return None
        if path == "/auth-echo":
            # An error page that repeats the Authorization-bearing URL back, as some servers do.
            return self._send(302, b"", headers={"Location": f"http://user:secret@{host}/loop1"})
        if path == "/loop1":
            return self._send(302, b"", headers={"Location": "/loop2"})
        if path == "/loop2":
            return self._send(302, b"", headers={"Location": "/loop1"})
        if path.startswith("/chain"):
            step = int(path.removeprefix("/chain") or 0)
            return self._send(302, b"", headers={"Location": f"/chain{step + 1}"})
        if path == "/to-ftp":
            return self._send(301, b"", headers={"Location": "ftp://127.0.0.1/file.png"})
        if path == "/moved":
            return self._send(301, b"", headers={"Location": "/img/dog.jpg"})
        if path == "/auth":
            ok = self.headers.get("Authorization", "").startswith("Basic ")
            return self._send(200 if ok else 401, CAT_PNG if ok else b"no", "image/png")
        return self._send(404, b"not here")


class _Server(ThreadingHTTPServer):
    # The default listen backlog of 5 drops SYNs when the client opens many connections at once.
    request_queue_size = 256

    def handle_error(self, request, client_address) -> None:
        # Clients hanging up on purpose (timeouts, caps) are part of the tests, not errors.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Site:
    """``with Site() as site: site.url('/a.html')``."""

    def __init__(self) -> None:
        # Counters per site, so tests in other modules do not see each other's hits.
        self.handler = type("Handler", (SiteHandler,), {"hits": Counter(), "hit_times": {}})
        self.server = _Server(("127.0.0.1", 0), self.handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> int:
        return self.handler.hits[path]

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
