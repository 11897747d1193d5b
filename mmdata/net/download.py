"""Async downloader: one shared session, global and per-host limits, retries, hard caps.

Every fetch ends in a ``FetchResult`` with status ok / dropped (refused by policy) / failed
(error after retries); nothing raises out of ``fetch``. Redirects are followed by hand so the
scheme and address checks run on every hop.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from mmdata.manifest import DROPPED, FAILED, OK
from mmdata.net.guard import PrivateAddressError, resolver_for
from mmdata.net.urls import host_of, is_public_address, literal_address, redact_url, scheme_refusal

log = logging.getLogger(__name__)
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class DownloadPolicy:
    """The downloader's knobs (IngestConfig carries the user-facing copy)."""

    concurrency: int = 64
    per_host_concurrency: int = 16
    per_host_rate: float = 0.0
    timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    max_bytes: int = 50 * 1024 * 1024
    max_decompressed_bytes: int = 100 * 1024 * 1024
    max_redirects: int = 5
    allow_private_network: bool = False
    user_agent: str = "mmpipe-ingest/0.1"


@dataclass(slots=True)
class FetchResult:
    """Outcome of one URL: body on ok, a short reason identifier plus detail otherwise."""

    url: str
    status: str
    reason: str = ""
    error_class: str = ""
    body: bytes = b""
    http_status: int = 0
    attempts: int = 0
    final_url: str = ""
    content_type: str = ""
    redirects: list[str] = field(default_factory=list)


class _Retryable(Exception):
    def __init__(self, reason: str, error_class: str, http_status: int = 0, retry_after_s: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.error_class = error_class
        self.http_status = http_status
        self.retry_after_s = retry_after_s


class _Final(Exception):
    """A non-retryable outcome raised from deep inside a request."""

    def __init__(self, result: FetchResult):
        super().__init__(result.reason)
        self.result = result


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _HostGate:
    """Per-host concurrency and a minimum spacing between request starts."""

    def __init__(self, concurrency: int, rate: float):
        self.semaphore = asyncio.Semaphore(concurrency)
        self.interval_s = 1.0 / rate if rate > 0 else 0.0
        self.next_start = 0.0

    async def wait_turn(self) -> None:
        if not self.interval_s:
            return
        now = time.monotonic()
        start = max(now, self.next_start)
        self.next_start = start + self.interval_s
        if start > now:
            await asyncio.sleep(start - now)


def _decoder_for(encoding: str):
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    raise _Final(FetchResult("", DROPPED, f"unsupported_encoding: {encoding}"))


def _scrubbed(result: FetchResult, url: str) -> FetchResult:
    """Remove any ``user:password@`` of ``url`` from texts that end up in manifests and logs."""
    secret = urlsplit(url).netloc.rpartition("@")[0] if "@" in url else ""
    if secret:
        result.reason = result.reason.replace(secret, "***")
        result.final_url = redact_url(result.final_url).replace(secret, "***")
    return result


class Downloader:
    """Use as ``async with Downloader(policy) as dl: result = await dl.fetch(url)``."""

    def __init__(self, policy: DownloadPolicy, rng: random.Random | None = None,
                 resolver: AbstractResolver | None = None):
        self.policy = policy
        self.rng = rng or random.Random(0)
        # DNS for the connector; default from the policy (public answers only unless private is allowed).
        self._resolver = resolver
        self._global = asyncio.Semaphore(policy.concurrency)
        self._hosts: dict[str, _HostGate] = {}
        self._host_refusals: dict[str, str | None] = {}  # IP-literal checks, once per host
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Downloader:
        connector = aiohttp.TCPConnector(
            limit=self.policy.concurrency,
            limit_per_host=self.policy.per_host_concurrency,
            resolver=self._resolver or resolver_for(self.policy.allow_private_network),
            ttl_dns_cache=60,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # we decompress ourselves, under a size cap
            headers={"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=aiohttp.ClientTimeout(total=self.policy.timeout_s),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    def slow_down(self, host: str, interval_s: float) -> None:
        """Space requests to ``host`` at least ``interval_s`` apart (e.g. a robots.txt Crawl-delay)."""
        gate = self._gate(host)
        gate.interval_s = max(gate.interval_s, min(interval_s, self.policy.max_backoff_s))

    def _gate(self, host: str) -> _HostGate:
        gate = self._hosts.get(host)
        if gate is None:
            gate = self._hosts[host] = _HostGate(self.policy.per_host_concurrency, self.policy.per_host_rate)
        return gate

    async def fetch(self, url: str) -> FetchResult:
        """Fetch ``url`` with retries; never raises for network or server misbehaviour."""
        attempts = 0
        while True:
            attempts += 1
            try:
                result = await self._fetch_once(url)
            except _Final as final:
                result = final.result
            except _Retryable as err:
                if attempts > self.policy.retries:
                    failure = FetchResult(
                        url, FAILED, err.reason, err.error_class, http_status=err.http_status, attempts=attempts
                    )
                    return _scrubbed(failure, url)
                delay = self._delay(attempts, err.retry_after_s)
                log.debug("retry %d of %s in %.2f s after %s", attempts, redact_url(url), delay, err.reason)
                await asyncio.sleep(delay)
                continue
            result.url = url
            result.attempts = attempts
            return _scrubbed(result, url)

    def _delay(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(retry_after_s, self.policy.max_backoff_s)
        base = self.policy.backoff_s * 2 ** (attempt - 1)
        # Full jitter keeps many clients that failed together from retrying together.
        return min(self.policy.max_backoff_s, base * (0.5 + self.rng.random()))

    def _refusal(self, url: str, host: str) -> str | None:
        reason = scheme_refusal(url)
        if reason:
            return reason
        if not host:
            return "invalid_url: no host"
        if host not in self._host_refusals:
            address = literal_address(host)
            private = address and not self.policy.allow_private_network and not is_public_address(address)
            self._host_refusals[host] = f"private_address: {address}" if private else None
        return self._host_refusals[host]

    async def _fetch_once(self, url: str) -> FetchResult:
        assert self._session is not None, "use Downloader as an async context manager"
        current, chain = url, [url]
        for _hop in range(self.policy.max_redirects + 1):
            host = host_of(current)
            refusal = self._refusal(current, host)
            if refusal:
                return FetchResult(url, DROPPED, refusal, final_url=redact_url(current), redirects=chain[1:])
            location = await self._request(current, host)
            if isinstance(location, FetchResult):
                location.final_url = redact_url(current)
                location.redirects = [redact_url(u) for u in chain[1:]]
                return location
            if location in chain:
                return FetchResult(url, FAILED, f"redirect_loop: {redact_url(location)}", "RedirectLoop")
            chain.append(location)
            current = location
        return FetchResult(
            url, FAILED, f"too_many_redirects: > cap {self.policy.max_redirects}", "TooManyRedirects"
        )

    async def _request(self, url: str, host: str) -> FetchResult | str:
        """One HTTP exchange: the next URL on a redirect, else the final result."""
        gate = self._gate(host)
        async with self._global, gate.semaphore:
            await gate.wait_turn()
            try:
                async with self._session.get(url, allow_redirects=False) as resp:
                    if resp.status in _REDIRECTS:
                        target = resp.headers.get("Location")
                        if not target:
                            return FetchResult(url, FAILED, f"http_{resp.status}: redirect without Location", "HTTPError", http_status=resp.status)
                        return str(resp.url.join(URL(target)))
                    if resp.status == 429 or resp.status >= 500:
                        raise _Retryable(
                            f"http_{resp.status}: {resp.reason or ''}".rstrip(": "),
                            "HTTPError",
                            resp.status,
                            parse_retry_after(resp.headers.get("Retry-After")),
                        )
                    if resp.status >= 400:
                        return FetchResult(
                            url, FAILED, f"http_{resp.status}: {resp.reason or ''}".rstrip(": "), "HTTPError", http_status=resp.status
                        )
                    body = await self._read_capped(resp)
                    return FetchResult(
                        url, OK, body=body, http_status=resp.status, content_type=resp.headers.get("Content-Type", "")
                    )
            except _Final as final:
                final.result.url = url
                raise
            except PrivateAddressError as err:
                return FetchResult(url, DROPPED, f"private_address: {err.address}")
            except aiohttp.ClientConnectorError as err:
                if isinstance(err.os_error, PrivateAddressError):
                    return FetchResult(url, DROPPED, f"private_address: {err.os_error.address}")
                raise _Retryable(f"connection_error: {err.os_error}", type(err).__name__) from err
            except aiohttp.ClientPayloadError as err:
                raise _Retryable(f"truncated: {err}", "ClientPayloadError") from err
            except (aiohttp.InvalidURL, ValueError) as err:
                return FetchResult(url, DROPPED, f"invalid_url: {redact_url(str(err))}")
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as err:
                raise _Retryable(f"connection_error: {err}", type(err).__name__) from err
            except TimeoutError as err:
                raise _Retryable(
                    f"timeout: no complete response within {self.policy.timeout_s:g} s", "Timeout"
                ) from err
            except aiohttp.ClientError as err:
                return FetchResult(url, FAILED, f"client_error: {err}", type(err).__name__)

    def _inflate(self, decoder, chunk: bytes, unpacked: int, status: int) -> bytes:
        """Decompress one chunk, never producing more than the cap allows (bomb-safe)."""
        room = self.policy.max_decompressed_bytes - unpacked
        try:
            out = decoder.decompress(chunk, room + 1)
        except zlib.error as err:
            raise _Final(FetchResult("", FAILED, f"bad_encoding: {err}", "ZlibError", http_status=status)) from err
        if len(out) > room or decoder.unconsumed_tail:
            cap = self.policy.max_decompressed_bytes
            raise _Final(FetchResult("", DROPPED, f"too_large_decompressed: > cap {cap}", http_status=status))
        return out

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        """Stream the body, aborting past the byte caps; detect bodies shorter than announced."""
        cap = self.policy.max_bytes
        announced = resp.headers.get("Content-Length")
        expected = int(announced) if announced and announced.isdigit() else None
        if expected is not None and expected > cap:
            raise _Final(FetchResult("", DROPPED, f"too_large: {expected} > cap {cap}", http_status=resp.status))
        decoder = _decoder_for(resp.headers.get("Content-Encoding", "").strip().lower())
        if decoder is None and expected is not None:
            # Plain body of announced size within the cap: aiohttp stops reading at
            # Content-Length, so one read is bounded (and far cheaper than a chunk loop).
            try:
                return await resp.read()
            except aiohttp.ClientPayloadError as err:
                got = resp.content.total_bytes
                raise _Retryable(f"truncated: got {got} of {expected} bytes", "ContentLengthMismatch", resp.status) from err
        chunks: list[bytes] = []
        received = unpacked = 0
        content = resp.content
        try:
            while chunk := await content.read(1 << 16):
                received += len(chunk)
                if received > cap:
                    raise _Final(FetchResult("", DROPPED, f"too_large: {received} > cap {cap}", http_status=resp.status))
                if decoder is not None:
                    chunk = self._inflate(decoder, chunk, unpacked, resp.status)
                    unpacked += len(chunk)
                chunks.append(chunk)
        except aiohttp.ClientPayloadError as err:
            # The peer closed before the announced length (or a chunked body broke off).
            raise _Retryable(
                f"truncated: got {received} of {expected if expected is not None else '?'} bytes",
                "ContentLengthMismatch",
                resp.status,
            ) from err
        if expected is not None and received != expected:
            raise _Retryable(f"content_length_mismatch: got {received} of {expected} bytes", "ContentLengthMismatch", resp.status)
        return b"".join(chunks)
