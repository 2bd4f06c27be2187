"""The SSRF guard: subscriber URLs that are not http(s) or reach loopback, link-local, metadata, private, unspecified,
multicast or reserved addresses are refused at subscription unless their network is allowed; at delivery the
connection goes only to an address the guard checked, so a name that resolves elsewhere later (DNS rebinding) or an
address no longer allowed is refused without a request being sent."""

import ipaddress
import socket
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestClient
from ops_constants import MakeSettings
from server_support import StartApp
from webhooks_support import AUTH, LOOPBACK, emit, settled, start_receiver, subscribe

from server.services.webhooks.addresses import AddressGuard, AddressPolicy, AddressRefused
from server.services.webhooks.sender import Sender


class Names(AbstractResolver):
    """A resolver answering from a table that a test can change between lookups."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self.table:
            raise OSError(f"{host}: no such name")
        address = self.table[host]
        kind = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [ResolveResult(hostname=host, host=address, port=port, family=kind, proto=0, flags=0)]

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not a public address"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    refusal = AddressPolicy().refusal(ipaddress.ip_address(address))
    assert refusal is not None and why in refusal


def test_public_addresses_and_allowed_networks_pass() -> None:
    policy = AddressPolicy([ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network(LOOPBACK)])
    for address in ("93.184.216.34", "2606:4700::1111", "10.20.3.4", "127.0.0.2", "::ffff:127.0.0.1"):
        assert policy.refusal(ipaddress.ip_address(address)) is None, address
    assert policy.refusal(ipaddress.ip_address("10.21.0.1")) is not None
    assert policy.refusal(ipaddress.ip_address("::1")) is not None  # only the IPv4 loopback network is allowed


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://[::1]:9/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://10.0.0.7/hook", "private"),
        ("http://0.0.0.0:8000/", "unspecified"),
        ("http://localhost:9/hook", "loopback"),  # a name that resolves to loopback
        ("ftp://example.com/hook", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("http:///nohost", "name a host"),
        ("http://user:pass@example.com/", "credentials"),
        ("http://a..b/hook", "not a valid host name"),  # IDNA refuses the empty label: was a 500
        ("http://" + "a" * 64 + ".example/", "not a valid host name"),
    ],
)
async def test_a_subscription_to_a_refused_url_is_invalid(client: TestClient, url: str, said: str) -> None:
    response = await client.post("/webhooks", json={"url": url, "events": ["trace.completed"]}, headers=AUTH)
    body = await response.json()
    assert response.status == 422, body
    assert said in body["error"] and body["details"]["errors"][0]["loc"][:2] == ["body", "url"]
    listed = await (await client.get("/webhooks", headers=AUTH)).json()
    assert listed["data"]["total"] == 0


async def test_loopback_is_accepted_once_its_network_is_allowed(
    start_app: StartApp, make_settings: MakeSettings
) -> None:
    client = await start_app(make_settings(webhook_allowed_networks=LOOPBACK))
    hook = await subscribe(client, "http://localhost:9/hook")
    assert hook["url"] == "http://localhost:9/hook"


async def test_a_name_that_no_longer_resolves_to_an_allowed_address_is_not_delivered(aiohttp_server: Any) -> None:
    """DNS rebinding: checked at subscription as public, the name later points at loopback; the delivery's
    connection asks the guard, which refuses, and the receiver on loopback hears nothing."""
    receiver = await start_receiver(aiohttp_server)
    assert receiver.server is not None
    names = Names({"hooks.example.com": "93.184.216.34"})
    guard = AddressGuard(AddressPolicy(), names)
    url = f"http://hooks.example.com:{receiver.server.port}/hook"
    await guard.check_url(url)  # public at subscription
    names.table["hooks.example.com"] = "127.0.0.1"
    sender = Sender(guard, timeout_seconds=2, max_response_bytes=1024)
    await sender.start()
    try:
        answer = await sender.send(url, {}, b"{}")
    finally:
        await sender.close()
    assert answer.refused and answer.status_code is None
    assert answer.error is not None and "127.0.0.1" in answer.error
    assert receiver.requests == []


async def test_the_connection_goes_to_the_address_the_guard_checked(aiohttp_server: Any) -> None:
    """With loopback allowed, the same name reaches the receiver: the connector used the guard's answer."""
    receiver = await start_receiver(aiohttp_server)
    assert receiver.server is not None
    guard = AddressGuard(AddressPolicy([ipaddress.ip_network(LOOPBACK)]), Names({"hooks.example.com": "127.0.0.1"}))
    sender = Sender(guard, timeout_seconds=2, max_response_bytes=1024)
    await sender.start()
    try:
        answer = await sender.send(f"http://hooks.example.com:{receiver.server.port}/hook", {}, b"{}")
    finally:
        await sender.close()
    assert answer.status_code == 200 and not answer.refused
    assert len(receiver.requests) == 1


async def test_an_address_literal_is_checked_at_delivery_too(aiohttp_server: Any) -> None:
    receiver = await start_receiver(aiohttp_server)
    sender = Sender(AddressGuard(AddressPolicy()), timeout_seconds=2, max_response_bytes=1024)
    await sender.start()
    try:
        answer = await sender.send(receiver.url, {}, b"{}")
    finally:
        await sender.close()
    assert answer.refused and "loopback" in (answer.error or "")
    assert receiver.requests == []


async def test_a_subscription_whose_network_is_no_longer_allowed_fails_without_a_request(
    start_app: StartApp, make_settings: MakeSettings, aiohttp_server: Any
) -> None:
    receiver = await start_receiver(aiohttp_server)
    allowed = await start_app(make_settings(webhook_allowed_networks=LOOPBACK))
    hook = await subscribe(allowed, receiver.url)
    await allowed.close()
    refused = await start_app(make_settings())  # the operator took loopback off the list
    await emit(refused.app)
    delivery = await settled(refused, hook["webhook_id"], 1)
    assert delivery["status"] == "failed" and delivery["attempt_log"][0]["outcome"] == "failed"
    assert "refused" in delivery["last_error"] and "loopback" in delivery["last_error"]
    assert receiver.requests == []


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    guard = AddressGuard(AddressPolicy(), Names({}))
    with pytest.raises(AddressRefused, match="does not resolve"):
        await guard.check_url("https://nowhere.example/hook")
