"""Where a webhook may point (chalicelib/webhooks/urls.py), with a stubbed
resolver: no test here sends any traffic, DNS included."""

from __future__ import annotations

import pytest

from chalicelib.webhooks import urls
from chalicelib.webhooks.urls import UnsafeUrl, check

PUBLIC = "93.184.215.14"


def resolver(*answers: str):
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        if not answers:
            raise OSError("no such host")
        return list(answers)

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


def test_a_public_https_url_is_pinned_to_the_address_checked():
    resolve = resolver(PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    target = check("https://Hooks.Example.com:8443/in?x=1", allow_local=False, resolve=resolve)
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "https", "hooks.example.com", 8443, "/in?x=1", PUBLIC,
    )  # fmt: skip
    assert target.host_header == "hooks.example.com:8443"
    assert resolve.asked == [("hooks.example.com", 8443)]
    assert check("https://hooks.example.com", allow_local=False, resolve=resolver(PUBLIC)).path == "/"


REFUSED_ADDRESSES = [
    "10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "127.8.8.8", "0.0.0.0", "169.254.169.254",
    "169.254.1.1", "100.64.0.1", "100.100.100.200", "192.0.0.192", "198.18.0.1", "224.0.0.1", "255.255.255.255",
    "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1",
    "2002:a00:1::", "64:ff9b::a00:1", "2001:db8::1",
]  # fmt: skip


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_a_name_resolving_to_a_non_public_address_is_refused(address):
    with pytest.raises(UnsafeUrl, match="not a public address"):
        check("https://hooks.example.com/x", allow_local=False, resolve=resolver(address))


@pytest.mark.parametrize("address", ["10.0.0.1", "169.254.169.254", "[::1]", "[fd00:ec2::254]", "0x7f000001"])
def test_an_address_literal_is_judged_without_resolving(address):
    resolve = resolver()
    with pytest.raises(UnsafeUrl):
        check(f"https://{address}/x", allow_local=False, resolve=resolve)
    assert address == "0x7f000001" or resolve.asked == []


def test_one_private_answer_among_public_ones_is_refused():
    with pytest.raises(UnsafeUrl, match=r"127\.0\.0\.1"):
        check("https://hooks.example.com/x", allow_local=False, resolve=resolver(PUBLIC, "127.0.0.1"))


def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        check("https://nowhere.example.com/x", allow_local=False, resolve=resolver())


BAD_URLS = [
    "", "hooks.example.com/x", "ftp://hooks.example.com/x", "http://hooks.example.com/x", "https://",
    "https://user:pw@hooks.example.com/x", "https://user@hooks.example.com/x", "https://hooks.example.com/x#frag",
    "https://hooks.example.com:99999/x", "https://hooks.example.com:abc/x", "https://hooks.example.com/a b",
    "https://hóoks.example.com/x", "https://hooks.example.com/\n", "https://" + "a" * 2050 + ".com/",
    "javascript:alert(1)", "file:///etc/passwd",
]  # fmt: skip


@pytest.mark.parametrize("url", BAD_URLS)
def test_malformed_or_unsafe_urls_are_refused_before_any_lookup(url):
    resolve = resolver(PUBLIC)
    with pytest.raises(UnsafeUrl):
        check(url, allow_local=True, resolve=resolve)
    assert resolve.asked == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/h", "http://localhost/h", "https://localhost./h"])
def test_local_endpoints_only_where_the_stage_allows_them(url):
    resolve = resolver()
    target = check(url, allow_local=True, resolve=resolve)
    assert target.address == "127.0.0.1" and resolve.asked == []  # never a DNS answer for localhost
    with pytest.raises(UnsafeUrl, match="development"):
        check(url, allow_local=False, resolve=resolve)


def test_other_loopback_forms_are_not_local_endpoints():
    for url in ("http://127.0.0.2/h", "http://[::1]/h", "http://0.0.0.0/h"):
        with pytest.raises(UnsafeUrl):
            check(url, allow_local=True, resolve=resolver())


def test_the_module_resolver_is_replaceable_and_restored():
    stub = resolver(PUBLIC)
    urls.use_resolver(stub)
    try:
        assert check("https://hooks.example.com/", allow_local=False).address == PUBLIC
    finally:
        urls.use_resolver(None)
    assert urls.resolver() is urls.system_resolver
