"""The pieces of ``runcomfy deployments`` and ``balance`` that need no service: table cells as the official CLI
writes them, ``--ids`` splitting, the balance line, the hints for the Serverless API's gating errors, and the exit
classes of a deletion nobody confirmed."""

from __future__ import annotations

import pytest

from runcomfy import errors
from runcomfy.cli.balance import balance_line
from runcomfy.cli.deployments import HARDWARE_SKUS, cell, instances, list_row, split_ids
from runcomfy.cli.exit_codes import ConfirmationDeclined, ConfirmationRequired, classify, hint_for
from runcomfy.cli.serverless_hints import serverless_hint, serverless_hints


def _status(code: int, error_code: int | str | None = None) -> errors.APIStatusError:
    return errors.status_error_class(code)("the service said no", status_code=code, error_code=error_code)


def test_the_hardware_choices_of_the_cli_are_the_librarys() -> None:
    from runcomfy.serverless import HARDWARE_SKUS as LIBRARY_SKUS

    assert HARDWARE_SKUS == LIBRARY_SKUS


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "-"),
        ("", "-"),
        ("   ", "-"),
        ([], "-"),
        ("ready", "ready"),
        (["AMPERE_48", "ADA_80_PLUS"], "AMPERE_48,ADA_80_PLUS"),
        ([1, "a", None], "1,a,null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (1.5, "1.5"),
        ({"b": 1, "a": 2}, '{"a":2,"b":1}'),
    ],
)
def test_a_cell_shows_values_as_the_official_cli_and_a_dash_for_nothing(value: object, shown: str) -> None:
    assert cell(value) == shown


def test_instances_are_min_dash_max_with_a_dash_when_unknown() -> None:
    assert instances({"min_instances": 0, "max_instances": 1}) == "0-1"
    assert instances({}) == "-"
    assert instances({"min_instances": None, "max_instances": None}) == "-"
    assert instances({"min_instances": 2}) == "2-?"
    assert instances({"max_instances": 4}) == "?-4"


def test_a_list_row_follows_the_headers() -> None:
    row = list_row(
        {"id": "d1", "name": "n", "is_enabled": False, "hardware": ["TURING_16"], "min_instances": 0}
    )
    assert row == ("d1", "n", "-", "false", "TURING_16", "0-?", "-")


def test_ids_are_split_on_commas_trimmed_and_blanks_dropped() -> None:
    assert split_ids([" a, b ,", ",", "c", ""]) == ["a", "b", "c"]
    assert split_ids([]) == []


@pytest.mark.parametrize(
    ("payload", "line"),
    [
        ({"balance_usd": 12.345, "currency": "USD"}, "$12.35 USD"),
        ({"balance_usd": 3}, "$3.00 USD"),
        ({"balance_usd": 0.5, "currency": "EUR"}, "$0.50 EUR"),
        ({"balance_usd": 1, "currency": ""}, "$1.00 USD"),
        ({"balance_usd": 1, "currency": None}, "$1.00 USD"),
        ({"balance_usd": "12"}, None),
        ({"balance_usd": True}, None),
        ({"balance_usd": 10**400}, None),
        ({}, None),
    ],
)
def test_the_balance_line_needs_a_number_and_defaults_the_currency_to_usd(
    payload: dict[str, object], line: str | None
) -> None:
    assert balance_line(payload) == line


def test_insufficient_funds_tells_to_top_up_by_error_code_or_status() -> None:
    for exc in (_status(402, 10001), _status(402), _status(400, "10001")):
        hint = serverless_hint(exc)
        assert hint is not None and "top up your RunComfy balance" in hint


def test_a_disabled_deployment_names_the_command_that_enables_it() -> None:
    assert "runcomfy deployments update d-7 --enable" in str(serverless_hint(_status(409, 10002), "d-7"))
    assert "runcomfy deployments update ID --enable" in str(serverless_hint(_status(409)))


def test_a_deleted_deployment_points_at_the_list() -> None:
    assert "runcomfy deployments list" in str(serverless_hint(_status(410, 10003), "d-7"))


def test_other_failures_keep_the_exit_tables_hint() -> None:
    assert serverless_hint(_status(404, 404001)) is None
    assert serverless_hint(_status(409, 4090)) is None  # a 409 with another code is not "disabled"
    assert serverless_hint(errors.APITimeoutError("slow")) is None
    assert "RUNCOMFY_SERVERLESS_API_BASE" in str(serverless_hint(errors.APIConnectionError("refused")))


def test_the_hint_block_sets_the_hint_and_keeps_one_set_where_the_cause_was_known() -> None:
    funds = _status(402, 10001)
    with pytest.raises(errors.APIStatusError), serverless_hints("d-1"):
        raise funds
    assert hint_for(funds) == serverless_hint(funds)
    assert classify(funds) == 65

    own = _status(409, 10002)
    own.hint = "ask the owner to enable it"
    with pytest.raises(errors.APIStatusError), serverless_hints("d-1"):
        raise own
    assert own.hint == "ask the owner to enable it"


def test_a_deletion_nobody_can_confirm_is_a_usage_error_and_a_no_is_a_failure() -> None:
    refused = ConfirmationRequired("no terminal")
    assert classify(refused) == 64
    assert "--yes" in str(hint_for(refused))
    assert classify(ConfirmationDeclined("not deleted")) == 1
