"""The Output sink: where each kind of line goes in each mode, and the escaping and redaction nets."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pytest

from runcomfy import errors
from runcomfy.cli.output import Mode, Output, escape_control, redact

TOKEN = "rc_canary_7f3a9d2e1b4c"


@dataclass
class Captured:
    out: Output
    stdout: io.StringIO
    stderr: io.StringIO


def make(
    mode: Mode = "pretty",
    *,
    quiet: bool = False,
    verbose: int = 0,
    tty: bool = False,
    env: Mapping[str, str] | None = None,
) -> Captured:
    stdout, stderr = io.StringIO(), io.StringIO()
    out = Output(
        mode,
        quiet=quiet,
        verbose=verbose,
        stdout=stdout,
        stderr=stderr,
        env={"TERM": "xterm-256color"} if env is None else env,
        stderr_isatty=tty,
    )
    return Captured(out, stdout, stderr)


# -- progress: emoji vs [tag] ------------------------------------------------------------------------------


def test_pretty_mode_on_a_tty_shows_emoji() -> None:
    c = make(tty=True)
    c.out.progress("submit", "Submitting request to m")
    c.out.progress("ok", "completed")
    assert c.stderr.getvalue() == "⏳ Submitting request to m\n✅ completed\n"
    assert c.stdout.getvalue() == ""


def test_progress_on_a_non_tty_stderr_uses_plain_tags() -> None:
    c = make(tty=False)
    c.out.progress("download", "Downloading 1 file(s) to .")
    assert c.stderr.getvalue() == "[download] Downloading 1 file(s) to .\n"


def test_no_color_present_but_empty_disables_emoji() -> None:
    c = make(tty=True, env={"NO_COLOR": "", "TERM": "xterm"})
    c.out.progress("auth", "Opening the authorization page")
    assert c.stderr.getvalue() == "[auth] Opening the authorization page\n"


def test_term_dumb_disables_emoji() -> None:
    c = make(tty=True, env={"TERM": "dumb"})
    c.out.progress("user", "me@example.com")
    assert c.stderr.getvalue() == "[user] me@example.com\n"


def test_plain_skip_line_never_shows_the_warning_sign() -> None:
    plain = make(tty=False)
    plain.out.progress("skip", "1 untrusted URL skipped")
    assert plain.stderr.getvalue() == "[skip] 1 untrusted URL skipped\n"
    assert "⚠" not in plain.stderr.getvalue()
    tty = make(tty=True)
    tty.out.progress("skip", "1 untrusted URL skipped")
    assert tty.stderr.getvalue() == "⚠ 1 untrusted URL skipped\n"


@pytest.mark.parametrize(
    ("tag", "emoji"),
    [
        ("submit", "⏳"),
        ("poll", "⏳"),
        ("wait", "⏳"),
        ("ok", "✅"),
        ("cancel", "⏹"),
        ("download", "📥"),
        ("skip", "⚠"),
        ("auth", "🔑"),
        ("user", "📛"),
        ("info", "ℹ"),
        ("model", "📦"),
    ],
)
def test_each_official_tag_has_its_emoji_and_its_plain_form(tag: str, emoji: str) -> None:
    tty, plain = make(tty=True), make(tty=False)
    tty.out.progress(tag, "x")
    plain.out.progress(tag, "x")
    assert tty.stderr.getvalue() == f"{emoji} x\n"
    assert plain.stderr.getvalue() == f"[{tag}] x\n"


def test_a_tag_without_an_emoji_stays_a_tag_even_on_a_tty() -> None:
    c = make(tty=True)
    c.out.progress("frobnicate", "x")
    assert c.stderr.getvalue() == "[frobnicate] x\n"


def test_tty_is_detected_on_stderr_when_not_injected() -> None:
    class TtyStream(io.StringIO):
        def isatty(self) -> bool:
            return True

    stderr = TtyStream()
    out = Output("pretty", stdout=io.StringIO(), stderr=stderr, env={"TERM": "xterm"})
    out.progress("ok", "done")
    assert stderr.getvalue() == "✅ done\n"


def test_detail_is_indented_three_spaces() -> None:
    c = make()
    c.out.detail("request_id: abc")
    c.out.detail("")
    assert c.stderr.getvalue() == "   request_id: abc\n   \n"


# -- quiet, verbose, json-mode stderr ----------------------------------------------------------------------


def test_quiet_suppresses_progress_details_warnings_and_verbose_but_not_data_or_errors() -> None:
    c = make(quiet=True, verbose=2)
    c.out.progress("submit", "Submitting")
    c.out.detail("request_id: abc")
    c.out.warning("token file is group-readable")
    c.out.verbose("Model API base: x")
    c.out.trace("GET /v1/requests/abc")
    assert c.stderr.getvalue() == ""
    c.out.data({"url": "u"})
    c.out.error("it broke")
    assert json.loads(c.stdout.getvalue()) == {"url": "u"}
    assert c.stderr.getvalue() == "Error: it broke\n"


def test_json_mode_keeps_stderr_free_of_progress_details_warnings_verbose_and_trace() -> None:
    c = make("json", verbose=2, tty=True)
    c.out.progress("submit", "Submitting")
    c.out.detail("request_id: abc")
    c.out.warning("careful")
    c.out.verbose("Model API base: x")
    c.out.trace("GET /v1/requests/abc")
    assert c.stderr.getvalue() == ""


def test_verbose_lines_need_the_requested_level() -> None:
    c = make(verbose=1)
    c.out.verbose("Model API base: https://x")
    c.out.verbose("deeper", level=2)
    c.out.trace("GET https://x/v1/requests/abc")
    assert c.stderr.getvalue() == "[v] Model API base: https://x\n"


def test_trace_shows_at_vv() -> None:
    c = make(verbose=2)
    c.out.trace("GET https://x/v1/requests/abc -> 200")
    assert c.stderr.getvalue() == "[trace] GET https://x/v1/requests/abc -> 200\n"


def test_warning_is_prefixed_on_stderr_in_pretty_mode() -> None:
    c = make()
    c.out.warning("RUNCOMFY_TOKEN is still set")
    assert c.stderr.getvalue() == "warning: RUNCOMFY_TOKEN is still set\n"
    assert c.stdout.getvalue() == ""


@pytest.mark.parametrize(
    ("mode", "quiet"), [("pretty", False), ("pretty", True), ("json", False), ("json", True)]
)
def test_always_shows_in_every_mode_even_quiet_and_json(mode: Mode, quiet: bool) -> None:
    c = make(mode, quiet=quiet)
    c.out.always("   YOUR CODE:  ABCD-EFGH")
    assert c.stderr.getvalue() == "   YOUR CODE:  ABCD-EFGH\n"
    assert c.stdout.getvalue() == ""


# -- data ------------------------------------------------------------------------------------------------


def test_pretty_data_is_indented_json_with_sorted_keys() -> None:
    c = make(tty=True)
    c.out.data({"b": [1, 2], "a": "é"})
    assert c.stdout.getvalue() == '{\n  "a": "é",\n  "b": [\n    1,\n    2\n  ]\n}\n'
    assert c.stderr.getvalue() == ""


def test_json_data_is_one_compact_line_with_sorted_keys() -> None:
    c = make("json")
    c.out.data({"wait": False, "request_id": "abc", "nested": {"z": None, "y": 1.5}})
    assert c.stdout.getvalue() == '{"nested":{"y":1.5,"z":null},"request_id":"abc","wait":false}\n'


def test_pretty_text_data_is_written_as_is() -> None:
    c = make()
    c.out.data("complete -F _runcomfy runcomfy\n")
    assert c.stdout.getvalue() == "complete -F _runcomfy runcomfy\n"


def test_json_text_data_is_a_json_string_document() -> None:
    c = make("json")
    c.out.data("hello")
    assert json.loads(c.stdout.getvalue()) == "hello"


def test_empty_output_prints_braces() -> None:
    pretty, compact = make(), make("json")
    pretty.out.data({})
    compact.out.data({})
    assert pretty.stdout.getvalue() == "{}\n"
    assert compact.stdout.getvalue() == "{}\n"


# -- kv, record, table -------------------------------------------------------------------------------------


def test_kv_pads_keys_to_the_longest_key_plus_colon() -> None:
    c = make()
    c.out.kv([("request_id", "abc"), ("status", "in_queue"), ("queue", "position 3"), ("result_url", None)])
    assert c.stdout.getvalue() == "request_id: abc\nstatus:     in_queue\nqueue:      position 3\n"


def test_kv_in_json_mode_is_one_object() -> None:
    c = make("json")
    c.out.kv([("request_id", "abc"), ("outcome", "cancelled"), ("status", None)])
    assert c.stdout.getvalue() == '{"outcome":"cancelled","request_id":"abc"}\n'


def test_record_writes_the_value_in_json_mode_and_the_pairs_in_pretty_mode() -> None:
    value = {"request_id": "abc", "status": "completed", "queue_position": None}
    pretty, compact = make(), make("json")
    pretty.out.record(value, [("request_id", "abc"), ("status", "completed")])
    compact.out.record(value, [("request_id", "abc"), ("status", "completed")])
    assert pretty.stdout.getvalue() == "request_id: abc\nstatus:     completed\n"
    assert json.loads(compact.stdout.getvalue()) == value


def test_record_without_pairs_prints_nothing_in_pretty_mode() -> None:
    c = make()
    c.out.record({"outcome": "cancelled"})
    assert c.stdout.getvalue() == ""


def test_table_separates_columns_by_two_spaces_and_leaves_the_last_unpadded() -> None:
    c = make()
    c.out.table(["ID", "MODEL", "STATUS"], [["a1", "openai/gpt-image", "completed"], ["b", "m", ""]])
    assert c.stdout.getvalue() == ("ID  MODEL             STATUS\na1  openai/gpt-image  completed\nb   m\n")


def test_table_in_json_mode_is_a_list_of_objects() -> None:
    c = make("json")
    c.out.table(["id", "n"], [["a", 1], ["b", None]])
    assert json.loads(c.stdout.getvalue()) == [{"id": "a", "n": 1}, {"id": "b", "n": None}]


# -- errors ------------------------------------------------------------------------------------------------


def test_pretty_error_has_the_message_then_request_id_then_hint() -> None:
    c = make(tty=True)
    c.out.error("request failed", request_id="abc", hint="see `runcomfy status abc`")
    assert c.stderr.getvalue() == (
        "Error: request failed\nRequest id: abc\nHint: see `runcomfy status abc`\n"
    )
    assert c.stdout.getvalue() == ""


def test_json_error_is_one_compact_parseable_line_with_a_string_error() -> None:
    c = make("json")
    c.out.error("no token", exit_code=77, request_id=None, hint="run `runcomfy login`")
    lines = c.stderr.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == {"error": "no token", "exit_code": 77, "hint": "run `runcomfy login`"}
    assert lines[0].startswith('{"error":"no token",')
    assert c.stdout.getvalue() == ""


def test_json_error_keeps_extra_keys() -> None:
    c = make("json")
    c.out.error("timed out", exit_code=75, request_id="abc", status="in_progress")
    assert json.loads(c.stderr.getvalue()) == {
        "error": "timed out",
        "exit_code": 75,
        "request_id": "abc",
        "status": "in_progress",
    }


def test_exception_reports_the_classified_code_with_its_hint_and_request_id() -> None:
    c = make("json")
    code = c.out.exception(errors.WaitTimeout("--timeout of 5s reached", request_id="req-9"))
    assert code == 75
    record = json.loads(c.stderr.getvalue())
    assert record["error"] == "--timeout of 5s reached"
    assert record["exit_code"] == 75
    assert record["request_id"] == "req-9"
    assert "runcomfy result req-9" in record["hint"]


def test_exception_for_ctrl_c_says_interrupted_and_returns_130() -> None:
    c = make()
    assert c.out.exception(KeyboardInterrupt()) == 130
    assert c.stderr.getvalue() == "Error: interrupted\n"


def test_multiline_error_message_stays_on_one_line() -> None:
    c = make()
    c.out.error("first\nsecond")
    assert c.stderr.getvalue() == "Error: first\\nsecond\n"


# -- safety nets -------------------------------------------------------------------------------------------

EVERY_METHOD: dict[str, Callable[[Output, str], None]] = {
    "progress": lambda o, s: o.progress("auth", s),
    "detail": lambda o, s: o.detail(s),
    "warning": lambda o, s: o.warning(s),
    "verbose": lambda o, s: o.verbose(s),
    "trace": lambda o, s: o.trace(s),
    "always": lambda o, s: o.always(s),
    "error": lambda o, s: o.error(s, hint=s, request_id=s, detail=s),
    "data-text": lambda o, s: o.data(s),
    "data-json": lambda o, s: o.data({"k": s, s: [s]}),
    "kv": lambda o, s: o.kv([("token", s)]),
    "record": lambda o, s: o.record({"k": s}, [("k", s)]),
    "table": lambda o, s: o.table(["h"], [[s]]),
}


@pytest.mark.parametrize("mode", ["pretty", "json"])
@pytest.mark.parametrize("method", sorted(EVERY_METHOD))
def test_a_registered_secret_is_redacted_by_every_method(method: str, mode: Mode) -> None:
    c = make(mode, verbose=2, tty=True)
    c.out.add_secret(TOKEN)
    EVERY_METHOD[method](c.out, f"token={TOKEN} Authorization: Bearer {TOKEN}")
    written = c.stdout.getvalue() + c.stderr.getvalue()
    assert TOKEN not in written
    if mode == "pretty" or method in ("always", "error", "data-text", "data-json", "kv", "record", "table"):
        assert "****" in written  # the line was shown, with the secret masked


@pytest.mark.parametrize("method", sorted(EVERY_METHOD))
def test_control_characters_from_the_server_are_escaped_by_every_method(method: str) -> None:
    c = make(verbose=2, tty=True)
    hostile = "title\x1b]0;pwned\x07\x1b[2J\x9b31m\u202egnp.exe"
    EVERY_METHOD[method](c.out, hostile)
    written = c.stdout.getvalue() + c.stderr.getvalue()
    assert written  # every method shows something in pretty mode at -vv
    for char in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert char not in written


def test_json_output_escapes_c1_controls_and_still_parses_to_the_same_value() -> None:
    c = make("json")
    value = {"caption": "a\x1b[31mb\x9bc\x7fd\u2028e"}
    c.out.data(value)
    text = c.stdout.getvalue()
    assert all(ch not in text for ch in "\x1b\x9b\x7f\u2028")
    assert json.loads(text) == value


def test_redact_replaces_every_secret_and_bearer_credentials() -> None:
    text = "a=SECRET-LONG b=SECRET authorization: Bearer xyz123 'Authorization': 'Bearer q'"
    assert redact(text, ["SECRET", "SECRET-LONG", ""]) == (
        "a=**** b=**** authorization: Bearer **** 'Authorization': 'Bearer ****'"
    )


def test_redact_leaves_ordinary_prose_about_bearers_alone() -> None:
    assert redact("the bearer of good news", []) == "the bearer of good news"


def test_empty_secret_is_ignored() -> None:
    c = make()
    c.out.add_secret("")
    c.out.add_secret(None)
    c.out.data("plain text")
    assert c.stdout.getvalue() == "plain text\n"


def test_escape_control_makes_escape_sequences_visible() -> None:
    assert escape_control("a\x1b[0mb\tc\nd") == "a\\x1b[0mb\\tc\\nd"
    assert escape_control("a\tb\nc\x00", keep_newlines=True) == "a\tb\nc\\x00"
    assert escape_control("ordinary text, émoji ✅") == "ordinary text, émoji ✅"


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown output mode"):
        Output("yaml")  # type: ignore[arg-type]


def test_an_ascii_only_stream_gets_escapes_instead_of_a_crash() -> None:
    raw = io.BytesIO()
    stderr = io.TextIOWrapper(raw, encoding="ascii")
    out = Output("pretty", stdout=io.StringIO(), stderr=stderr, env={"TERM": "xterm"}, stderr_isatty=True)
    out.progress("ok", "done")
    assert raw.getvalue() == b"\\u2705 done\n"


def test_trace_masks_a_bearer_credential_even_if_it_was_never_registered() -> None:
    c = make(verbose=2)
    c.out.trace("Authorization: Bearer unregistered-token-123")
    assert c.stderr.getvalue() == "[trace] Authorization: Bearer ****\n"
