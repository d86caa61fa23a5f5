"""Which result URLs may be downloaded: collecting them, the allow-list, and redirect decisions."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runcomfy.downloads import (
    MAX_REDIRECT_HOPS,
    Origin,
    Rejection,
    TrustedURL,
    check_redirect,
    check_url,
    collect_urls,
    origin_of,
)

EMULATOR = origin_of("http://127.0.0.1:8188/v1")


def trusted(url: str, origins: tuple[Origin, ...] = ()) -> TrustedURL:
    decision = check_url(url, trusted_origins=origins)
    assert isinstance(decision, TrustedURL), decision
    return decision


# --- collect_urls -------------------------------------------------------------------------------------------


def test_collects_urls_in_document_order_whatever_the_key() -> None:
    output = {
        "zeta": "https://a.runcomfy.net/1.png",
        "alpha": ["https://a.runcomfy.net/2.png", {"nested": "http://b.example/3.png"}],
        "count": 3,
        "ok": True,
        "none": None,
        "https://key.runcomfy.net/not-a-value": "plain text",
    }
    assert collect_urls(output) == [
        "https://a.runcomfy.net/1.png",
        "https://a.runcomfy.net/2.png",
        "http://b.example/3.png",
    ]


def test_bare_string_output_is_collected() -> None:
    assert collect_urls("https://a.runcomfy.net/x.png") == ["https://a.runcomfy.net/x.png"]


def test_duplicate_urls_are_collected_once() -> None:
    url = "https://a.runcomfy.net/x.png"
    assert collect_urls([url, {"again": url}, url]) == [url]


def test_scheme_prefix_is_matched_case_insensitively_and_other_strings_ignored() -> None:
    output = ["HTTPS://A.runcomfy.net/x", "ftp://a.runcomfy.net/y", "see https://a.runcomfy.net/z", ""]
    assert collect_urls(output) == ["HTTPS://A.runcomfy.net/x"]


def test_deep_nesting_is_walked_without_recursion_and_bounded() -> None:
    deep: Any = "https://a.runcomfy.net/deep.png"
    for _ in range(50_000):
        deep = [deep]
    assert collect_urls(deep) == []
    assert collect_urls(deep, max_depth=60_000) == ["https://a.runcomfy.net/deep.png"]


def test_walk_stops_after_max_nodes() -> None:
    urls = [f"https://a.runcomfy.net/{i}.png" for i in range(50)]
    assert collect_urls(urls, max_nodes=11) == urls[:10]


# --- check_url: the allow-list ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://files.runcomfy.net/a.png",
        "https://playgrounds-storage-public.runcomfy.net/tools/x/out.webp",
        "https://cdn.runcomfy.com/x",
        "https://a.b.c.runcomfy.com/x",
        "HTTPS://CDN.RunComfy.NET/A.png",
        "https://files.runcomfy.net./a.png",
        "https://files.runcomfy.net:443/a.png",
        "https://files.runcomfy.net/a.png?sig=abc#fragment",
    ],
)
def test_https_runcomfy_subdomains_are_trusted(url: str) -> None:
    decision = trusted(url)
    assert decision.url.scheme == "https"
    assert decision.url.host.endswith((".runcomfy.net", ".runcomfy.com"))
    assert decision.url.port is None
    assert decision.text == url


@pytest.mark.parametrize(
    "url",
    [
        # The official CLI's known bypasses and its own test list.
        "https://127.0.0.1\\@cdn.runcomfy.net/x",
        "https://evil.com\\.runcomfy.net/x",
        "https://cdn.runcomfy.net@evil.example.com/file",
        "https://evil.example.com/#@cdn.runcomfy.net",
        "https://evil.example.com/?u=https://cdn.runcomfy.net",
        "https://evil.example.com/runcomfy.net/x",
        "https://[::1]/x",
        "http://10.0.0.1/x.runcomfy.net",
        "not a url",
        "ftp://files.runcomfy.net/x",
        # Hardening beyond the official CLI.
        "http://files.runcomfy.net/x",
        "https://files.runcomfy.net:8443/x",
        "https://user:pw@cdn.runcomfy.com/x",
        "https://user:pw@cdn.runcomfy.com:443/x",
        "https://@cdn.runcomfy.com/x",
        "https://runcomfy.net/x",
        "https://runcomfy.com/x",
        "https://runcomfy.net.evil.com/x",
        "https://evilruncomfy.net/x",
        "https://cdn.runcomfy.net.:443./x",
        "https://cdn.runcomfy.net../x",
        "https://cdn%2erunComfy.net/x",
        "https://cdn.runcomfy.net%2f@evil.com/x",
        "https://cdn.runcomfy.net /x",
        "https://cdn.runcomfy.net\t/x",
        "https://cdn.run\ncomfy.net/x",
        "https://cdn.runcomfy.net/x\x00",
        "https://cdn.runcomfy\u3002net/x",
        "https://cdn.ｒｕｎｃｏｍｆｙ.net/x",
        "https://cdn.runcomfy.net:/x",
        "https://cdn.runcomfy.net:99999/x",
        "https://cdn.runcomfy.net:-443/x",
        "https:///x",
        "https:cdn.runcomfy.net/x",
        "//cdn.runcomfy.net/x",
        "http://2130706433/x",
        "http://0x7f000001/x",
        "http://017700000001/x",
        "http://127.1/x",
        "https://[::ffff:127.0.0.1]/x",
        "javascript://cdn.runcomfy.net/%0aalert(1)",
    ],
)
def test_untrusted_urls_are_rejected(url: str) -> None:
    decision = check_url(url)
    assert isinstance(decision, Rejection)
    assert decision.url == url
    assert decision.reason


def test_configured_api_origin_is_trusted_exactly() -> None:
    decision = trusted("http://127.0.0.1:8188/files/abc/out.png", (EMULATOR,))
    assert str(decision.url) == "http://127.0.0.1:8188/files/abc/out.png"
    assert decision.origin == EMULATOR


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8189/files/out.png",
        "https://127.0.0.1:8188/files/out.png",
        "http://localhost:8188/files/out.png",
        "http://2130706433:8188/files/out.png",
        "http://127.0.0.1/files/out.png",
        "http://user@127.0.0.1:8188/files/out.png",
    ],
)
def test_other_origins_near_the_configured_one_are_rejected(url: str) -> None:
    assert isinstance(check_url(url, trusted_origins=(EMULATOR,)), Rejection)


def test_origin_of_normalises_case_default_port_and_trailing_dot() -> None:
    assert origin_of("HTTPS://Model-API.RunComfy.net./v1") == Origin("https", "model-api.runcomfy.net", 443)
    assert origin_of("http://localhost:8188") == Origin("http", "localhost", 8188)
    with pytest.raises(ValueError):
        origin_of("ftp://x.example")


def test_fetched_url_is_built_from_the_checked_parts() -> None:
    decision = trusted("https://cdn.runcomfy.net/a\\b/ü.png?x=1")
    assert decision.url.raw_host == b"cdn.runcomfy.net"
    assert decision.url.raw_path == b"/a%5Cb/%C3%BC.png?x=1"
    assert decision.url.userinfo == b""


_LABEL = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12)
_HOST = st.lists(_LABEL, min_size=1, max_size=4).map(".".join)


@given(host=_HOST)
def test_any_host_outside_the_runcomfy_domains_is_rejected(host: str) -> None:
    if host.endswith((".runcomfy.net", ".runcomfy.com")):
        return
    assert isinstance(check_url(f"https://{host}/file.png"), Rejection)


@given(subdomain=_HOST, domain=st.sampled_from(["runcomfy.net", "runcomfy.com", "RunComfy.NET"]))
def test_any_subdomain_of_the_runcomfy_domains_is_trusted_over_https(subdomain: str, domain: str) -> None:
    decision = check_url(f"https://{subdomain}.{domain}/file.png")
    assert isinstance(decision, TrustedURL)
    assert decision.url.host == f"{subdomain}.{domain}".lower()


@given(subdomain=_HOST, userinfo=st.text(min_size=0, max_size=20), tail=st.text(max_size=30))
def test_userinfo_is_always_rejected(subdomain: str, userinfo: str, tail: str) -> None:
    assert isinstance(check_url(f"https://{userinfo}@{subdomain}.runcomfy.net/{tail}"), Rejection)


@given(prefix=_HOST, junk=st.sampled_from([*"\\%@[] \t\r\n\x00\x7f", "\u3002", "é"]), suffix=_HOST)
def test_ambiguous_characters_in_the_authority_are_rejected(prefix: str, junk: str, suffix: str) -> None:
    assert isinstance(check_url(f"https://{prefix}{junk}{suffix}.runcomfy.net/x"), Rejection)


@given(text=st.text(max_size=80))
def test_check_url_never_raises_and_trusts_only_https_runcomfy_hosts(text: str) -> None:
    decision = check_url(text)
    if isinstance(decision, TrustedURL):
        assert decision.url.scheme == "https"
        assert decision.url.host.endswith((".runcomfy.net", ".runcomfy.com"))
        assert decision.url.port is None


# --- check_redirect -----------------------------------------------------------------------------------------


def test_redirect_to_a_trusted_url_is_followed() -> None:
    current = trusted("https://files.runcomfy.net/a.png")
    decision = check_redirect(current, "https://cdn.runcomfy.com/b.png", hop=1)
    assert isinstance(decision, TrustedURL)
    assert str(decision.url) == "https://cdn.runcomfy.com/b.png"


def test_relative_location_is_resolved_against_the_current_url() -> None:
    current = trusted("https://files.runcomfy.net/dir/a.png?sig=1")
    decision = check_redirect(current, "../other/b.png", hop=1)
    assert isinstance(decision, TrustedURL)
    assert str(decision.url) == "https://files.runcomfy.net/other/b.png"


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1/a.png",
        "https://evil.example.com/a.png",
        "//evil.example.com/a.png",
        "https://files.runcomfy.net@evil.example.com/a.png",
        "http://files.runcomfy.net/a.png",
    ],
)
def test_redirect_to_an_untrusted_url_is_refused(location: str) -> None:
    current = trusted("https://files.runcomfy.net/a.png")
    assert isinstance(check_redirect(current, location, hop=1), Rejection)


def test_https_to_http_redirect_is_refused_even_to_a_trusted_origin() -> None:
    https_origin = Origin("https", "localhost", 8443)
    current = trusted("https://localhost:8443/a.png", (https_origin, EMULATOR))
    decision = check_redirect(current, "http://127.0.0.1:8188/a.png", hop=1, trusted_origins=(EMULATOR,))
    assert isinstance(decision, Rejection)
    assert "https to http" in decision.reason


def test_http_to_http_redirect_within_the_configured_origin_is_followed() -> None:
    current = trusted("http://127.0.0.1:8188/a.png", (EMULATOR,))
    decision = check_redirect(current, "/files/b.png", hop=1, trusted_origins=(EMULATOR,))
    assert isinstance(decision, TrustedURL)
    assert str(decision.url) == "http://127.0.0.1:8188/files/b.png"


@pytest.mark.parametrize("location", [None, "", "   "])
def test_redirect_without_location_is_refused(location: str | None) -> None:
    current = trusted("https://files.runcomfy.net/a.png")
    decision = check_redirect(current, location, hop=1)
    assert isinstance(decision, Rejection)
    assert "Location" in decision.reason


def test_more_than_five_hops_are_refused() -> None:
    current = trusted("https://files.runcomfy.net/a.png")
    assert MAX_REDIRECT_HOPS == 5
    assert isinstance(check_redirect(current, "/b.png", hop=5), TrustedURL)
    decision = check_redirect(current, "/b.png", hop=6)
    assert isinstance(decision, Rejection)
    assert "too many redirects" in decision.reason


@given(location=st.text(max_size=60))
def test_check_redirect_never_raises_and_never_leaves_the_allow_list(location: str) -> None:
    current = trusted("https://files.runcomfy.net/dir/a.png")
    decision = check_redirect(current, location, hop=1)
    if isinstance(decision, TrustedURL):
        assert decision.url.scheme == "https"
        assert decision.url.host.endswith((".runcomfy.net", ".runcomfy.com"))
