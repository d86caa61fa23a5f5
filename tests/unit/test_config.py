"""Config dir, state dir and base URLs: environment precedence and validation."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runcomfy import config
from runcomfy.errors import ConfigError


def test_config_dir_prefers_runcomfy_config_dir_over_xdg_and_home() -> None:
    env = {"RUNCOMFY_CONFIG_DIR": "/c", "XDG_CONFIG_HOME": "/x", "HOME": "/h"}
    assert config.config_dir(env) == Path("/c")


def test_config_dir_uses_xdg_config_home_then_home() -> None:
    assert config.config_dir({"XDG_CONFIG_HOME": "/x", "HOME": "/h"}) == Path("/x/runcomfy")
    assert config.config_dir({"HOME": "/h"}) == Path("/h/.config/runcomfy")


def test_whitespace_only_environment_values_count_as_unset() -> None:
    env = {"RUNCOMFY_CONFIG_DIR": "   ", "XDG_CONFIG_HOME": "\t", "HOME": "/h"}
    assert config.config_dir(env) == Path("/h/.config/runcomfy")
    assert config.model_api_base({"RUNCOMFY_MODEL_API_BASE": "  "}) == config.DEFAULT_MODEL_API_BASE


def test_state_dir_precedence() -> None:
    assert config.state_dir({"RUNCOMFY_STATE_DIR": "/s", "XDG_STATE_HOME": "/x"}) == Path("/s")
    assert config.state_dir({"XDG_STATE_HOME": "/x"}) == Path("/x/runcomfy")
    assert config.state_dir({"HOME": "/h"}) == Path("/h/.local/state/runcomfy")


def test_defaults_when_environment_is_empty() -> None:
    assert config.model_api_base({}) == "https://model-api.runcomfy.net/v1"
    assert config.web_base({}) == "https://www.runcomfy.com"


def test_base_urls_are_trimmed_and_lose_trailing_slashes() -> None:
    env = {
        "RUNCOMFY_MODEL_API_BASE": "  http://127.0.0.1:8188/v1//  ",
        "RUNCOMFY_WEB_BASE": "https://w.example/",
    }
    assert config.model_api_base(env) == "http://127.0.0.1:8188/v1"
    assert config.web_base(env) == "https://w.example"


@pytest.mark.parametrize(
    "value",
    [
        "ftp://files.example/v1",
        "model-api.runcomfy.net/v1",
        "https://",
        "https://host.example/v1?x=1",
        "https://host.example/v1#frag",
        "https://host.example:99999/v1",
        "https://host.example:port/v1",
        "https://host\\.example/v1",
        "https://host.example/v 1",
        "https://host.example/\x1b[31m",
    ],
)
def test_unusable_base_urls_raise_config_error(value: str) -> None:
    with pytest.raises(ConfigError):
        config.normalize_base_url(value, name="RUNCOMFY_MODEL_API_BASE")


def test_base_url_with_userinfo_is_refused_without_echoing_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        config.model_api_base({"RUNCOMFY_MODEL_API_BASE": "https://user:s3cr3t-pw@api.example/v1"})
    assert "s3cr3t-pw" not in str(caught.value)
    assert "RUNCOMFY_MODEL_API_BASE" in str(caught.value)


def test_loopback_detection() -> None:
    assert config.is_loopback_base("http://127.0.0.1:8188/v1")
    assert config.is_loopback_base("http://localhost:1")
    assert not config.is_loopback_base("http://example.com")


@given(st.text(max_size=80))
def test_normalize_base_url_returns_a_clean_http_url_or_raises_config_error(value: str) -> None:
    try:
        url = config.normalize_base_url(value)
    except ConfigError:
        return
    assert urllib.parse.urlsplit(url).scheme.lower() in ("http", "https")
    assert not url.endswith("/")
    assert "@" not in url.split("/")[2]
