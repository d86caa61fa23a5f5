"""``runcomfy balance`` against the emulator: one line of data in pretty mode (kept by ``-q``), the service's
answer as it came in json mode, the whole answer when it has no number to show, and the usual failures."""

from __future__ import annotations

import json

from cli_harness import CLI, Result


def balance(cli: CLI, *args: str, env: dict[str, str | None] | None = None) -> Result:
    """``runcomfy [GLOBAL FLAGS] balance`` against this test's emulator."""
    return cli.run(*args, "balance", env=env)


def test_balance_prints_dollars_with_two_decimals_and_the_currency_on_stdout(cli: CLI) -> None:
    cli.fault(route="balance", kind="respond", status=200, body={"balance_usd": 12.345, "currency": "USD"})

    result = balance(cli)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "balance: $12.35 USD\n"
    assert result.stderr == ""


def test_a_fresh_account_shows_its_starting_balance(cli: CLI) -> None:
    result = balance(cli)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("balance: $")
    assert result.stdout.rstrip().endswith(" USD")


def test_quiet_keeps_the_balance_line_because_it_is_data(cli: CLI) -> None:
    assert balance(cli, "-q").stdout == balance(cli).stdout != ""


def test_json_mode_prints_the_services_answer_as_it_came(cli: CLI) -> None:
    cli.fault(
        route="balance", kind="respond", status=200, body={"balance_usd": 7, "currency": "EUR", "extra": 1}
    )

    result = balance(cli, "--output", "json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"balance_usd": 7, "currency": "EUR", "extra": 1}
    assert result.stdout.count("\n") == 1
    assert result.stderr == ""


def test_a_missing_currency_is_shown_as_usd(cli: CLI) -> None:
    cli.fault(route="balance", kind="respond", status=200, body={"balance_usd": 0.5})

    assert balance(cli).stdout == "balance: $0.50 USD\n"


def test_an_answer_without_a_numeric_balance_is_printed_whole_not_guessed_at(cli: CLI) -> None:
    cli.fault(route="balance", kind="respond", status=200, body={"balance_usd": "lots", "currency": "USD"})

    result = balance(cli)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"balance_usd": "lots", "currency": "USD"}
    assert "balance: $" not in result.stdout


def test_a_rejected_token_is_exit_77_and_never_shown(cli: CLI) -> None:
    result = balance(cli, env={"RUNCOMFY_TOKEN": "rc-not-a-token-the-emulator-knows"})

    assert result.returncode == 77
    assert result.stdout == ""
    assert "runcomfy login" in result.stderr
    assert "rc-not-a-token-the-emulator-knows" not in result.combined


def test_an_unreachable_serverless_api_is_69_naming_its_variable(cli: CLI) -> None:
    closed = "http://127.0.0.1:9/prod/v2"  # the discard port: nothing listens there

    result = cli.run(
        "balance", env={"RUNCOMFY_SERVERLESS_API_BASE": closed, "RUNCOMFY_RETRY_WINDOW": "0"}, timeout=60
    )

    assert result.returncode == 69, result.stderr
    assert "RUNCOMFY_SERVERLESS_API_BASE" in result.stderr


def test_the_token_never_leaks_even_when_the_service_echoes_it(cli: CLI) -> None:
    cli.fault(route="balance", kind="respond", status=200, body={"balance_usd": 1, "currency": cli.token})
    echoed = balance(cli)
    cli.fault(
        route="balance",
        kind="error",
        status=500,
        body={"error_code": 500001, "error_message": f"token {cli.token} broke it"},
        times=None,
    )
    failed = balance(cli, "--output", "json", env={"RUNCOMFY_RETRY_WINDOW": "0"})
    verbose = balance(cli, "-vv", env={"RUNCOMFY_RETRY_WINDOW": "0"})

    assert echoed.returncode == 0, echoed.stderr
    assert failed.returncode == verbose.returncode == 69
    cli.assert_no_leak(
        echoed.stdout, echoed.stderr, failed.stdout, failed.stderr, verbose.stdout, verbose.stderr
    )


def test_balance_help_has_examples(cli: CLI) -> None:
    result = cli.run("balance", "--help")

    assert result.returncode == 0
    assert "runcomfy balance" in result.stdout.split("Examples:")[1]
