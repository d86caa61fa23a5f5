"""Prices as text: at least two decimals, never a digit rounded away."""

from __future__ import annotations

from typing import Any

import pytest

from runcomfy.catalog import price_label


@pytest.mark.parametrize(
    ("price", "unit", "expected"),
    [
        (0.4, "video", "$0.40/video"),
        (0.0, "request", "$0.00/request"),
        (0.005, "image", "$0.005/image"),
        (0.04, "image", "$0.04/image"),
        (3, "minute", "$3.00/minute"),
        (12.5, None, "$12.50"),
        (1e-05, "token", "$0.00001/token"),
        (0.05, "  ", "$0.05"),
    ],
)
def test_a_price_has_two_decimals_at_least_and_keeps_every_digit(
    price: float, unit: str | None, expected: str
) -> None:
    assert price_label({"base_price_usd": price, "price_unit": unit}) == expected


@pytest.mark.parametrize("price", [None, "0.4", True, float("inf"), float("nan"), [1]])
def test_no_usable_price_is_no_text(price: Any) -> None:
    assert price_label({"base_price_usd": price, "price_unit": "image"}) == ""


def test_a_unit_from_the_server_cannot_carry_control_characters() -> None:
    assert price_label({"base_price_usd": 1, "price_unit": "im\x1b[2Jage"}) == "$1.00/im[2Jage"
