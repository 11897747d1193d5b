"""The SSRF guard judges the addresses a name resolves to (so DNS rebinding cannot slip through)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp.abc import AbstractResolver

from mmdata.net.guard import PrivateAddressError, PublicOnlyResolver
from mmdata.net.urls import is_public_address, normalize_url, redact_url


class FixedAnswers(AbstractResolver):
    """A resolver that answers every name with the given addresses."""

    def __init__(self, *addresses: str):
        self.addresses = addresses

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{"hostname": host, "host": a, "port": port, "family": family, "proto": 0, "flags": 0}
                for a in self.addresses]

    async def close(self) -> None:
        pass


def resolve(resolver, host="rebind.test"):
    return asyncio.run(resolver.resolve(host, 80))


def test_private_answers_are_refused_and_mixed_answers_filtered():
    with pytest.raises(PrivateAddressError, match="169.254.169.254"):
        resolve(PublicOnlyResolver(FixedAnswers("169.254.169.254")))  # cloud metadata endpoint
    kept = resolve(PublicOnlyResolver(FixedAnswers("10.0.0.5", "93.184.216.34", "::1")))
    assert [a["host"] for a in kept] == ["93.184.216.34"]


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.0.1", False), ("172.16.0.1", False),
     ("169.254.1.1", False), ("0.0.0.0", False), ("::1", False), ("fe80::1", False), ("::ffff:10.0.0.1", False),
     ("2606:4700::1111", True), ("224.0.0.1", False)],
)
def test_address_classes(address, public):
    assert is_public_address(address) is public


def test_url_helpers():
    assert redact_url("https://bob:hunter2@example.org/a?b=1") == "https://***@example.org/a?b=1"
    assert normalize_url("HTTP://Example.ORG:80/a/../b#frag") == "http://example.org/a/../b"
    assert normalize_url("x.html", "https://h.test/dir/page") == "https://h.test/dir/x.html"
