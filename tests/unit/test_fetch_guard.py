"""The fetcher's address guard: every non-global address is refused, embedded IPv4 included.

Pure function first, then at name resolution with a patched resolver: no packet leaves.
"""

from __future__ import annotations

import pytest

from paywall.config import HttpLimits
from paywall.fetch import Fetcher, is_public_address

REFUSED = {
    "carrier-grade NAT (cloud metadata)": "100.100.100.200",
    "CGNAT low": "100.64.0.1",
    "loopback": "127.0.0.1",
    "private 10/8": "10.1.2.3",
    "private 172.16/12": "172.16.5.5",
    "private 192.168/16": "192.168.0.8",
    "link-local (metadata)": "169.254.169.254",
    "unspecified": "0.0.0.0",
    "this network": "0.1.2.3",
    "IETF protocol assignments": "192.0.0.170",
    "benchmarking": "198.18.0.1",
    "documentation": "203.0.113.7",
    "reserved": "240.0.0.1",
    "broadcast": "255.255.255.255",
    "multicast v4": "224.0.0.1",
    "IPv6 loopback": "::1",
    "IPv6 unspecified": "::",
    "unique local": "fd00::1",
    "IPv6 link-local": "fe80::1",
    "IPv6 link-local with zone": "fe80::1%eth0",
    "site-local (deprecated)": "fec0::1",
    "IPv6 multicast": "ff02::1",
    "IPv6 documentation": "2001:db8::1",
    "IPv4-mapped private": "::ffff:10.0.0.1",
    "IPv4-mapped CGNAT": "::ffff:100.100.100.200",
    "IPv4-compatible loopback": "::127.0.0.1",
    "IPv4-compatible private": "::10.0.0.1",
    "6to4 loopback": "2002:7f00:1::1",
    "6to4 private": "2002:c0a8:0001::1",
    "6to4 metadata": "2002:a9fe:a9fe::",
    "6to4 CGNAT": "2002:6464:64c8::1",
    "NAT64 well-known loopback": "64:ff9b::7f00:1",
    "NAT64 well-known private": "64:ff9b::10.0.0.1",
    "NAT64 well-known metadata": "64:ff9b::169.254.169.254",
    "NAT64 local-use": "64:ff9b:1::a00:1",
    "NAT64 local-use public-looking": "64:ff9b:1::808:808",
    "Teredo": "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "Teredo private server": "2001:0:a00:1::1",
    "ISATAP private": "2606:4700::5efe:10.0.0.1",
    "not an address": "example.test",
    "garbage": "1.2.3.4.5",
}
ALLOWED = {
    "public v4": "8.8.8.8",
    "public v6": "2606:4700::1111",
    "IPv4-mapped public": "::ffff:8.8.8.8",
    "6to4 public": "2002:0808:0808::1",
    "NAT64 well-known public": "64:ff9b::808:808",
}


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_non_global_addresses_are_not_public(address: str) -> None:
    assert is_public_address(address) is False


@pytest.mark.parametrize("address", ALLOWED.values(), ids=ALLOWED.keys())
def test_global_addresses_are_public(address: str) -> None:
    assert is_public_address(address) is True


@pytest.mark.parametrize(
    "address", [a for a in REFUSED.values() if "." in a or ":" in a], ids=lambda a: a
)
def test_refused_at_name_resolution_before_any_connection(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["8.8.8.8", address]  # one bad address among good ones is enough to refuse

    def no_connection(*args: object, **kwargs: object) -> None:
        raise AssertionError("a connection was about to be made")

    monkeypatch.setattr(Fetcher, "_pool", no_connection)
    fetcher = Fetcher(HttpLimits(), "t", allow_private=False, resolver=resolver)
    # The fetch error's class moved to paywall.errors on main; its message is the contract.
    with pytest.raises(Exception, match=r"refused: news\.example\.test resolves to a non-public"):
        fetcher.get("http://news.example.test/a.html")
    assert calls == ["news.example.test"]
