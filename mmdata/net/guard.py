"""SSRF guard: a resolver that refuses private/loopback/link-local answers.

aiohttp connects only to addresses its resolver returns, so checking here covers every
hostname, every redirect hop and DNS answers that change between lookups (rebinding).
IP literals bypass resolvers, so the downloader checks them itself with ``literal_address``.
"""

from __future__ import annotations

import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from mmdata.net.urls import is_public_address


class PrivateAddressError(OSError):
    """A host resolved only to addresses the ingest may not contact."""

    def __init__(self, host: str, address: str):
        super().__init__(f"{host} resolves to non-public address {address}")
        self.host = host
        self.address = address


class PublicOnlyResolver(AbstractResolver):
    """Resolve with the system resolver, keep public addresses only; refuse when none is left."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        public = [a for a in answers if is_public_address(a["host"])]
        if not public:
            raise PrivateAddressError(host, answers[0]["host"] if answers else "?")
        return public

    async def close(self) -> None:
        await self._inner.close()


def resolver_for(allow_private_network: bool) -> Any:
    """The resolver the downloader's connector uses."""
    return ThreadedResolver() if allow_private_network else PublicOnlyResolver()
