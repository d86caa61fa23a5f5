"""The exit-code table: each failure class maps to its code by type; --help shows the table."""

from __future__ import annotations

import re

import click
import pytest

from runcomfy import errors
from runcomfy.cli.exit_codes import (
    EXIT_CODE_MEANINGS,
    EXIT_RULES,
    ExitCode,
    classify,
    exit_codes_help,
    hint_for,
    possible_codes,
)


def _status(cls: type[errors.APIStatusError], code: int) -> errors.APIStatusError:
    return cls("the server said no", status_code=code)


CASES: list[tuple[BaseException, int]] = [
    (errors.RequestFailed("model crashed", request_id="r"), 1),
    (errors.RequestCancelled("cancelled", request_id="r"), 1),
    (errors.ConfigError("bad base"), 1),
    (RuntimeError("unexpected bug"), 1),
    (click.UsageError("no such option"), 64),
    (click.BadParameter("not a number"), 64),
    (errors.InvalidInput("not JSON"), 65),
    (_status(errors.BadRequestError, 400), 65),
    (_status(errors.NotFoundError, 404), 65),
    (_status(errors.UnprocessableEntityError, 422), 65),
    (_status(errors.APIStatusError, 402), 65),
    (_status(errors.APIStatusError, 409), 65),
    (errors.InputFileNotFound("missing.json"), 66),
    (_status(errors.ServerError, 500), 69),
    (_status(errors.ServerError, 503), 69),
    (errors.APIConnectionError("connection refused"), 69),
    (errors.APIResponseError("not JSON"), 69),
    (errors.DownloadError("disk full"), 74),
    (errors.DownloadTooLarge("over 2 GiB"), 74),
    (errors.TokenFileError("cannot write token.json"), 74),
    (errors.InvalidTokenFile("token.json is not a valid token file"), 77),
    (errors.OutputDirectoryError("cannot create out/"), 73),
    (errors.StatusStuck("status `mystery` for 300 s", request_id="r"), 69),
    (PermissionError("output dir not writable"), 74),
    (OSError(28, "No space left on device"), 74),
    (errors.APITimeoutError("read timed out"), 75),
    (_status(errors.RequestTimeoutError, 408), 75),
    (_status(errors.RateLimitError, 429), 75),
    (errors.WaitTimeout("--timeout reached", request_id="r"), 75),
    (errors.LoginExpired("code expired"), 75),
    (TimeoutError("builtin timeout"), 75),
    (errors.NotAuthenticated("no token"), 77),
    (_status(errors.AuthenticationError, 401), 77),
    (_status(errors.PermissionDeniedError, 403), 77),
    (errors.LoginDenied("denied"), 77),
    (errors.LoginError("no token came back"), 77),
    (errors.Interrupted("Ctrl-C", request_id="r"), 130),
    (KeyboardInterrupt(), 130),
    (click.exceptions.Abort(), 130),
]


@pytest.mark.parametrize(("exc", "expected"), CASES, ids=[f"{type(e).__name__}-{c}" for e, c in CASES])
def test_each_failure_class_exits_with_its_code(exc: BaseException, expected: int) -> None:
    assert classify(exc) == expected


def test_classification_ignores_the_message_text() -> None:
    # Words the official CLI's text fallback reacted to must not change anything here.
    assert classify(RuntimeError("401 unauthorized: not signed in")) == 1
    assert classify(RuntimeError("timed out after 429")) == 1
    assert classify(errors.RequestFailed("invalid json; 401 timeout")) == 1


def test_connection_failure_after_retries_is_unavailable_not_tempfail() -> None:
    assert classify(errors.APIConnectionError("refused")) == 69
    assert classify(errors.APITimeoutError("slow")) == 75
    assert (ExitCode.UNAVAILABLE, ExitCode.TEMPFAIL) == (69, 75)


def test_no_rule_is_shadowed_by_an_earlier_base_class() -> None:
    for i, later in enumerate(EXIT_RULES):
        for earlier in EXIT_RULES[:i]:
            assert not issubclass(later.exc_type, earlier.exc_type), (
                f"{later.exc_type.__name__} can never match: {earlier.exc_type.__name__} comes first"
            )


def test_only_config_error_falls_through_to_the_generic_exit_1() -> None:
    def subclasses(cls: type[BaseException]) -> list[type[BaseException]]:
        found = list(cls.__subclasses__())
        for sub in cls.__subclasses__():
            found += subclasses(sub)
        return found

    unmatched = {
        cls.__name__
        for cls in subclasses(errors.RunComfyError)
        if not any(issubclass(cls, rule.exc_type) for rule in EXIT_RULES)
    }
    # ConfigError deliberately gets 1 ("any error not classed below"); anything new needs a row.
    assert unmatched == {"ConfigError"}


def _help_codes() -> list[int]:
    return [int(m.group(1)) for m in re.finditer(r"^  (\d+) +\S", exit_codes_help(), re.MULTILINE)]


def test_help_lists_exactly_the_codes_classify_can_return() -> None:
    assert set(_help_codes()) == set(possible_codes())
    assert len(_help_codes()) == len(set(_help_codes()))


def test_possible_codes_are_the_codes_of_the_cases_above() -> None:
    assert {expected for _, expected in CASES} | {0} == set(possible_codes())


def test_help_table_is_a_click_verbatim_block_in_ascending_order() -> None:
    text = exit_codes_help()
    assert text.startswith("\b\nEXIT CODES:\n")
    assert "  0    success\n" in text
    assert "  130  interrupted (Ctrl-C or SIGTERM)\n" in text
    assert _help_codes() == sorted(_help_codes())
    assert [int(code) for code in EXIT_CODE_MEANINGS] == _help_codes()


def test_hint_tells_the_next_step_for_authentication() -> None:
    hint = hint_for(errors.NotAuthenticated("no token"))
    assert hint is not None
    assert "runcomfy login" in hint
    assert "RUNCOMFY_TOKEN" in hint


def test_hint_names_the_resume_command_when_a_request_id_is_known() -> None:
    hint = hint_for(errors.WaitTimeout("--timeout reached", request_id="req-42"))
    assert hint is not None
    assert "runcomfy result req-42" in hint


def test_hint_has_no_resume_command_without_a_request_id() -> None:
    hint = hint_for(_status(errors.ServerError, 502))
    assert hint is not None
    assert "runcomfy result" not in hint


def test_failed_request_gets_no_resume_hint() -> None:
    assert hint_for(errors.RequestFailed("model error", request_id="req-42")) is None


def test_an_errors_own_hint_wins_over_its_types_hint() -> None:
    own = errors.NotAuthenticated("no token", hint="use the token of the staging account")
    assert hint_for(own) == "use the token of the staging account"


def test_input_errors_get_no_generic_hint_since_their_message_names_the_problem() -> None:
    assert hint_for(errors.InvalidInput("--input: invalid JSON: Expecting value")) is None
    assert hint_for(errors.InputFileNotFound("--batch: nope.jsonl: no such file")) is None
    assert hint_for(_status(errors.UnprocessableEntityError, 422)) is None


def test_resume_command_is_not_repeated_when_the_own_hint_names_it() -> None:
    timeout = errors.WaitTimeout(
        "not finished", request_id="r-9", hint="fetch it later with `runcomfy result r-9`"
    )
    assert hint_for(timeout) == "fetch it later with `runcomfy result r-9`"


def test_a_batch_failure_exits_with_the_class_its_items_share() -> None:
    from runcomfy.cli.exit_codes import BatchFailed

    failed = BatchFailed("6 of 6 item(s) did not succeed", exit_code=77, hint="run `runcomfy login`")
    assert classify(failed) == 77
    assert hint_for(failed) == "run `runcomfy login`"
