"""The SSRF guard: a subscriber URL may not reach the server's own networks — loopback, link-local, cloud metadata,
private, unspecified, multicast or reserved addresses — unless the operator allows their network
(`OPS_WEBHOOK_ALLOWED_NETWORKS`). Checked when a subscription is made, and again at every delivery by the resolver
the delivery's connection uses: it hands the connector only allowed addresses, so the connection goes to an address
that was checked, not to whatever a second DNS answer says (DNS rebinding)."""

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)


LOOKUP_SECONDS = 5.0


class AddressRefused(OSError):
    """A URL whose host is, or resolves only to, addresses the guard refuses. An OSError, so that aiohttp's connector
    reports it as a failed lookup without trying to connect."""


def _embedded(address: IPAddress) -> IPAddress | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo's client), which is where packets end up."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return None


def _why_refused(address: IPAddress) -> str | None:
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for test, name in (
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_unspecified, "unspecified"),
        (address.is_multicast, "multicast"),
        (address.is_reserved, "reserved"),  # before private: Python counts 240.0.0.0/4 as both
        (address.is_private, "private"),
    ):
        if test:
            return f"a {name} address"
    if not address.is_global:
        return "not a public address"
    return None


class AddressPolicy:
    def __init__(self, allowed_networks: Sequence[IPNetwork] = ()) -> None:
        self._allowed = tuple(allowed_networks)

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be reached, or None if it may."""
        if any(address.version == net.version and address in net for net in self._allowed):
            return None
        inner = _embedded(address)
        if inner is not None:
            return self.refusal(inner)
        return _why_refused(address)


def literal_address(host: str) -> IPAddress | None:
    """`host` as an address if it is one (an IPv6 literal may come bracketed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class AddressGuard:
    """Checks URLs and hosts against the policy, resolving names with `resolver` (the system's by default)."""

    def __init__(self, policy: AddressPolicy, resolver: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._resolver = resolver or ThreadedResolver()

    async def check_url(self, url: str) -> None:
        """At subscription: every address the URL's host has must be allowed (AddressRefused otherwise)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AddressRefused("the URL must be http(s) and name a host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname
        if (address := literal_address(host)) is not None:
            self.check_address(host, address)
            return
        for found in await self._lookup(host, port):
            self.check_address(host, ipaddress.ip_address(found["host"]))

    def check_address(self, host: str, address: IPAddress) -> None:
        why = self.policy.refusal(address)
        if why is not None:
            raise AddressRefused(f"{host} is {address}, {why}, which webhooks may not reach")

    async def allowed(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> list[ResolveResult]:
        """At delivery: the host's allowed addresses (AddressRefused if none)."""
        found = await self._lookup(host, port, family)
        allowed = [r for r in found if self.policy.refusal(ipaddress.ip_address(r["host"])) is None]
        if not allowed:
            shown = ", ".join(sorted({r["host"] for r in found}))
            raise AddressRefused(f"{host} resolves to {shown}, which webhooks may not reach")
        return allowed

    async def _lookup(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> list[ResolveResult]:
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                found = await self._resolver.resolve(host, port, family=socket.AddressFamily(family))
        except TimeoutError:
            raise AddressRefused(f"{host} does not resolve within {LOOKUP_SECONDS:g} s") from None
        except OSError as exc:
            raise AddressRefused(f"{host} does not resolve: {exc.strerror or exc}") from None
        except UnicodeError:  # IDNA cannot encode it (an empty or 64+ character label, a lone surrogate)
            raise AddressRefused(f"{host!r} is not a valid host name") from None
        if not found:
            raise AddressRefused(f"{host} does not resolve")
        return found

    async def close(self) -> None:
        await self._resolver.close()


class GuardedResolver(AbstractResolver):
    """The resolver of the delivery connector: the guard's allowed addresses only. (aiohttp does not resolve an
    address literal: the sender checks those itself.)"""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return await self._guard.allowed(host, port, family)

    async def close(self) -> None:
        return None
