"""The short cuts of the per-call URL checks give the answers of the full parse they skip.

``same_origin`` takes a URL that starts with the reference origin exactly as ``origin_key`` writes it without
parsing it (a status URL the service sent, on every call of a batch), and ``origin_key`` remembers the few bases
it is asked about; ``strip_controls`` skips its scan over plain ASCII text. Each must agree with the slow path.
"""

from __future__ import annotations

import unicodedata

import httpx
from hypothesis import example, given
from hypothesis import strategies as st

from runcomfy.api_urls import _origin_key, origin_key, quote_request_id, same_origin
from runcomfy.errors import InvalidInput
from runcomfy.safe_text import strip_controls

BASES = [
    "https://model-api.runcomfy.net/v1",
    "http://127.0.0.1:8188/v1",
    "http://localhost:80/v1",
    "http://[::1]:8188/v1",
    "https://Model-API.runcomfy.net./v1",
]


def slow_same_origin(candidate: str, reference: str) -> bool:
    """``same_origin`` as it was written before its short cut: a full parse of both."""
    if any(ord(ch) < 0x21 or ch == "\\" for ch in candidate):
        return False
    mine = _origin_key(candidate)
    return bool(mine) and mine == _origin_key(reference)


tails = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@given(st.sampled_from(BASES), st.sampled_from(BASES), tails)
@example("http://127.0.0.1:8188/v1", "http://127.0.0.1:8188/v1", "/v1/requests/a\x7f/status")
@example("http://127.0.0.1:8188/v1", "http://127.0.0.1:8188/v1", "0/v1")
@example("http://127.0.0.1:8188/v1", "http://127.0.0.1:8188/v1", "@evil.com/v1")
@example("http://[::1]:8188/v1", "http://[::1]:8188/v1", "/v1/requests/x/status")
def test_same_origin_agrees_with_a_full_parse(base: str, reference: str, tail: str) -> None:
    written = origin_key(base)  # as origin_key writes it: what the short cut looks for
    for candidate in (written + tail, base + tail, written + "/" + tail):
        assert same_origin(candidate, reference) == slow_same_origin(candidate, reference), candidate


def test_a_url_too_long_for_httpx_is_not_taken_on_its_prefix() -> None:
    long_url = "http://127.0.0.1:8188/v1/" + "a" * 70_000
    assert not same_origin(long_url, "http://127.0.0.1:8188/v1")


def test_an_ipv6_origin_is_only_recognised_by_the_full_parse() -> None:
    # origin_key writes an IPv6 host without brackets, which does not parse back to the same origin.
    assert origin_key("http://[::1]:8188/v1") == "http://::1:8188"
    assert same_origin("http://[::1]:8188/v1/requests/x/status", "http://[::1]:8188/v1")
    assert not same_origin("http://::1:8188/v1/requests/x/status", "http://[::1]:8188/v1")


def test_origin_key_of_a_string_and_of_a_parsed_url_agree() -> None:
    for base in BASES:
        assert origin_key(base) == _origin_key(base) == origin_key(httpx.URL(base))
        assert origin_key(base) == origin_key(base)  # remembered: the same answer the second time


@given(st.text(max_size=60))
@example("plain ascii text")
@example("tab\there")
@example("del\x7fhere")
@example("bidi \u202e override")
def test_strip_controls_drops_exactly_the_control_characters(text: str) -> None:
    expected = "".join(
        ch
        for ch in text
        if not (unicodedata.category(ch).startswith("C") or unicodedata.category(ch) in ("Zl", "Zp"))
    )
    assert strip_controls(text, max_len=1000) == expected


@given(st.text(max_size=30))
@example("a b")
@example("a\u00a0b")  # a no-break space: whitespace to str.isspace()
@example("a\x1fb")
@example("a\x7fb")
@example("..")
def test_quote_request_id_refuses_what_it_refused_before(request_id: str) -> None:
    unsafe = (
        request_id in ("", ".", "..")
        or "/" in request_id
        or len(request_id) > 512
        or any(ch in "?#\\" or ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in request_id)
    )
    try:
        quote_request_id(request_id)
    except InvalidInput:
        assert unsafe
    else:
        assert not unsafe
