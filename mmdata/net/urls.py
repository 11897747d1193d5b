"""URL helpers: normalisation for de-duplication, credential redaction, scheme and address checks."""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

ALLOWED_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_http_url(text: str) -> bool:
    return text[:8].lower().startswith(("http://", "https://"))


def looks_like_url(text: str) -> bool:
    """True for 'scheme://...' strings (any scheme), so a table cell is not mistaken for a path."""
    head, sep, _ = text.partition("://")
    return bool(sep) and head.isascii() and head.replace("+", "").replace("-", "").replace(".", "").isalnum()


def redact_url(url: str) -> str:
    """The URL with any ``user:password@`` replaced by ``***@``: manifests and logs never hold secrets."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def normalize_url(url: str, base: str | None = None) -> str:
    """Absolute URL without fragment, with lower-case scheme/host and no default port."""
    if base is not None:
        url = urljoin(base, url.strip())
    parts: SplitResult = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    netloc = parts.netloc
    if parts.hostname:
        host = parts.hostname.lower()
        if ":" in host:
            host = f"[{host}]"
        port = parts.port if parts.port != _DEFAULT_PORTS.get(scheme) else None
        userinfo = netloc.rsplit("@", 1)[0] + "@" if "@" in netloc else ""
        netloc = f"{userinfo}{host}{':' + str(port) if port else ''}"
    path = parts.path or ("/" if scheme in ALLOWED_SCHEMES else "")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def host_of(url: str) -> str:
    """Lower-case host name of ``url`` ('' when it has none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def scheme_refusal(url: str) -> str | None:
    """Reason to refuse ``url`` for its scheme, or None for http(s)."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in ALLOWED_SCHEMES:
        return f"unsupported_scheme: {scheme or '(none)'}"
    return None


def is_public_address(address: str) -> bool:
    """False for loopback, private, link-local, multicast, reserved and unspecified addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def literal_address(host: str) -> str | None:
    """``host`` as an IP address string when it is an IP literal, else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None
