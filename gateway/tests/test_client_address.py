"""Which address is the client: the TCP peer, or what a trusted proxy says it received."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from werkzeug.routing import Map, Rule
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from gateway.client_address import client_address, trusted_proxies
from gateway.http import ApiWsgiApp, call_context_of, json_response

PROXIES = trusted_proxies("10.0.0.0/8, 192.168.1.7, fd00::/8")


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_claims() -> None:
    assert client_address("10.1.2.3", "203.0.113.9", ()) == "10.1.2.3"


def test_a_peer_that_is_not_a_trusted_proxy_is_the_client() -> None:
    assert client_address("198.51.100.4", "203.0.113.9", PROXIES) == "198.51.100.4"


def test_behind_a_trusted_proxy_the_address_it_received_from_is_the_client() -> None:
    assert client_address("10.1.2.3", "203.0.113.9", PROXIES) == "203.0.113.9"


def test_addresses_the_client_wrote_itself_are_not_believed() -> None:
    # The client sent "1.1.1.1"; the ingress appended the address it saw, 203.0.113.9.
    assert client_address("10.1.2.3", "1.1.1.1, 203.0.113.9", PROXIES) == "203.0.113.9"


def test_a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_hop() -> None:
    forwarded = "1.1.1.1, 203.0.113.9, 192.168.1.7, 10.9.9.9"
    assert client_address("10.1.2.3", forwarded, PROXIES) == "203.0.113.9"
    assert client_address("fd00::1", "2001:db8::5", PROXIES) == "2001:db8::5"


def test_a_malformed_hop_stops_at_the_last_trusted_one() -> None:
    assert client_address("10.1.2.3", "203.0.113.9, not-an-ip", PROXIES) == "10.1.2.3"
    assert client_address("10.1.2.3", "203.0.113.9, 10.9.9.9:443", PROXIES) == "10.1.2.3"
    assert client_address("10.1.2.3", "", PROXIES) == "10.1.2.3"
    assert client_address("10.1.2.3", "\x00", PROXIES) == "10.1.2.3"


def test_only_proxies_in_the_header_is_the_farthest_one() -> None:
    assert client_address("10.1.2.3", "10.4.4.4, 10.5.5.5", PROXIES) == "10.4.4.4"


def test_a_wrong_setting_names_itself_and_the_entry() -> None:
    with pytest.raises(ValueError, match=r"TRUSTED_PROXIES: 'ingress' is not an address"):
        trusted_proxies("10.0.0.0/8, ingress")
    assert trusted_proxies(" , ") == ()


class CallerProvider:
    def handle_request(self, request: Request) -> Response:
        return json_response(200, {"client_ip": call_context_of(request).client_ip})


def gateway(monkeypatch: pytest.MonkeyPatch, proxies: str) -> Client:
    monkeypatch.setenv("TRUSTED_PROXIES", proxies)
    url_map = Map([Rule("/v1/caller", methods=["GET"], endpoint=CallerProvider())])
    return Client(ApiWsgiApp(SimpleNamespace(make_url_map=lambda: url_map)))


def caller_seen(client: Client, peer: str, forwarded_for: str | None) -> str:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    response = client.get("/v1/caller", headers=headers, environ_base={"REMOTE_ADDR": peer})
    return response.json["client_ip"]


def test_the_call_context_carries_the_client_behind_a_trusted_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = gateway(monkeypatch, "127.0.0.1")
    assert caller_seen(client, "127.0.0.1", "203.0.113.9") == "203.0.113.9"
    assert caller_seen(client, "127.0.0.1", None) == "127.0.0.1"
    assert caller_seen(client, "198.51.100.4", "203.0.113.9") == "198.51.100.4"


def test_by_default_no_header_moves_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    client = gateway(monkeypatch, "")
    assert caller_seen(client, "127.0.0.1", "203.0.113.9") == "127.0.0.1"


def test_the_gateway_refuses_to_start_with_a_wrong_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        gateway(monkeypatch, "10.0.0.0/33")
