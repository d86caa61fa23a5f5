"""``runcomfy deployments list|get|create|update|delete|proxy`` against the emulator's Serverless API.

What the official CLI prints (tables, key/value lines, raw payloads in json mode, the delete question and its
exit codes), and what this one adds: flag values checked before anything is sent, hints for the service's
gating errors (402 insufficient funds, 409 disabled, 410 deleted), and the token never shown.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pty
import select
import subprocess
import time
import uuid
from typing import Any

import pytest
from cli_harness import CLI, RUNCOMFY, Result

WORKFLOW_ID = "7e57c0de-0000-4000-8000-000000000001"  # the emulator's text-to-image workflow (v1, v2)
HEADER = ["ID", "NAME", "STATUS", "ENABLED", "HARDWARE", "INSTANCES", "VERSION"]


def create(cli: CLI, name: str = "upscaler", *flags: str) -> dict[str, Any]:
    """A new deployment (through the command itself), as the service answered it."""
    result = cli.run(
        "--output",
        "json",
        "deployments",
        "create",
        "--name",
        name,
        "--workflow-id",
        WORKFLOW_ID,
        "--workflow-version",
        "v1",
        *flags,
    )
    assert result.returncode == 0, result.stderr
    deployment: dict[str, Any] = json.loads(result.stdout)
    return deployment


def get(cli: CLI, deployment_id: str) -> dict[str, Any]:
    result = cli.run("--output", "json", "deployments", "get", deployment_id)
    assert result.returncode == 0, result.stderr
    deployment: dict[str, Any] = json.loads(result.stdout)
    return deployment


def kv_lines(text: str) -> dict[str, str]:
    pairs = [line.split(":", 1) for line in text.splitlines()]
    return {key: value.strip() for key, value in pairs}


def table(text: str) -> list[list[str]]:
    """The rows of a table whose cells hold no spaces (two spaces or more separate columns)."""
    return [line.split() for line in text.splitlines()]


def fresh_user(cli: CLI) -> CLI:
    """The same emulator with a new account that has no deployments at all."""
    token = f"rc-canary-{uuid.uuid4().hex}"
    cli.emulator.control.add_token(token)
    return dataclasses.replace(cli, token=token)


def calls(cli: CLI, route: str) -> int:
    return len(cli.calls(route))


# --- list ----------------------------------------------------------------------------------------------------


def test_an_account_without_deployments_is_told_so_on_stderr_and_stdout_stays_empty(cli: CLI) -> None:
    user = fresh_user(cli)

    pretty = user.run("deployments", "list")
    as_json = user.run("--output", "json", "deployments", "list")

    assert pretty.returncode == as_json.returncode == 0, pretty.stderr
    assert pretty.stdout == ""
    assert pretty.stderr == "[info] No deployments found.\n"
    assert json.loads(as_json.stdout) == []
    assert as_json.stderr == ""


def test_list_is_a_table_with_the_official_columns_and_min_dash_max_instances(cli: CLI) -> None:
    user = fresh_user(cli)
    first = create(user, "first")
    second = create(
        user, "second", "--hardware", "HOPPER_141", "--min-instances", "2", "--max-instances", "5"
    )

    result = user.run("deployments", "list")

    assert result.returncode == 0, result.stderr
    rows = table(result.stdout)
    assert rows[0] == HEADER
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id[first["id"]] == [first["id"], "first", "ready", "true", "AMPERE_48", "0-1", "v1"]
    assert by_id[second["id"]] == [second["id"], "second", "ready", "true", "HOPPER_141", "2-5", "v1"]


def test_missing_null_and_empty_values_show_as_a_dash_and_lists_are_joined(cli: CLI) -> None:
    odd = [
        {
            "id": "d-1",
            "name": "",
            "status": None,
            "hardware": ["AMPERE_24", "ADA_48_PLUS"],
            "min_instances": 0,
        },
        {"id": "d-2", "name": "bare", "hardware": [], "is_enabled": False},
    ]
    cli.fault(route="deployments", kind="respond", status=200, body=odd)

    result = cli.run("deployments", "list")

    assert result.returncode == 0, result.stderr
    assert table(result.stdout) == [
        HEADER,
        ["d-1", "-", "-", "-", "AMPERE_24,ADA_48_PLUS", "0-?", "-"],
        ["d-2", "bare", "-", "false", "-", "-", "-"],
    ]


def test_json_mode_prints_the_services_list_as_it_came(cli: CLI) -> None:
    user = fresh_user(cli)
    made = create(user, "only")

    result = user.run("--output", "json", "deployments", "list")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [made]
    assert result.stdout.count("\n") == 1
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("flag", "key"),
    [("--include-payload", "payload"), ("--include-readme", "readme")],
    ids=["payload", "readme"],
)
def test_an_include_flag_prints_indented_json_with_what_it_adds(cli: CLI, flag: str, key: str) -> None:
    user = fresh_user(cli)
    create(user, "with-extras")

    result = user.run("deployments", "list", flag)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("[\n  {\n")
    [listed] = json.loads(result.stdout)
    assert key in listed
    if key == "payload":
        assert listed["payload"]["workflow_api_json"]
        assert "overrides" in listed["payload"]


def test_ids_are_trimmed_split_on_commas_repeatable_and_blanks_dropped(cli: CLI) -> None:
    user = fresh_user(cli)
    one, two, three = (create(user, name)["id"] for name in ("one", "two", "three"))

    result = user.run("--output", "json", "deployments", "list", "--ids", f" {one} , ,", "--ids", f"{three},")

    assert result.returncode == 0, result.stderr
    assert sorted(d["id"] for d in json.loads(result.stdout)) == sorted([one, three])
    assert two not in result.stdout


# --- get -----------------------------------------------------------------------------------------------------


def test_get_prints_the_whole_object_indented_in_pretty_and_compact_in_json(cli: CLI) -> None:
    made = create(cli, "lookup")

    pretty = cli.run("deployments", "get", made["id"])
    compact = cli.run("--output", "json", "deployments", "get", made["id"])

    assert pretty.returncode == compact.returncode == 0, pretty.stderr
    assert json.loads(pretty.stdout) == json.loads(compact.stdout) == made
    assert pretty.stdout.startswith("{\n  ")
    assert compact.stdout.count("\n") == 1


def test_get_with_include_payload_shows_the_workflow_and_its_default_overrides(cli: CLI) -> None:
    made = create(cli, "graph")

    result = cli.run("deployments", "get", made["id"], "--include-payload", "--include-readme")

    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["payload"]["workflow_api_json"]["3"]["class_type"] == "KSampler"
    assert record["readme"]


def test_an_unknown_deployment_is_exit_65_naming_it(cli: CLI) -> None:
    result = cli.run("deployments", "get", "no-such-deployment")

    assert result.returncode == 65
    assert "no-such-deployment" in result.stderr
    assert result.stdout == ""


# --- create --------------------------------------------------------------------------------------------------


def test_create_says_what_it_does_then_prints_the_known_fields(cli: CLI) -> None:
    result = cli.run(
        "deployments",
        "create",
        "--name",
        "upscaler",
        "--workflow-id",
        WORKFLOW_ID,
        "--workflow-version",
        "v2",
    )

    assert result.returncode == 0, result.stderr
    fields = kv_lines(result.stdout)
    assert list(fields) == [
        "id",
        "name",
        "status",
        "is_enabled",
        "workflow_id",
        "workflow_version",
        "hardware",
        "min_instances",
        "max_instances",
        "queue_size",
        "keep_warm_duration_in_seconds",
        "updated_at",
    ]
    assert fields["name"] == "upscaler"
    assert fields["hardware"] == "AMPERE_48"
    assert (fields["min_instances"], fields["max_instances"], fields["queue_size"]) == ("0", "1", "1")
    assert fields["keep_warm_duration_in_seconds"] == "60"
    assert fields["is_enabled"] == "true"
    assert result.stderr.splitlines() == [
        "[create] Creating deployment `upscaler`",
        f"[ok] Created deployment {fields['id']}",
    ]
    assert result.stdout.splitlines()[0] == f"id:{' ' * 28}{fields['id']}"


def test_create_sends_every_flag_it_was_given(cli: CLI) -> None:
    made = create(
        cli,
        "tuned",
        "--hardware",
        "ADA_80_PLUS",
        "--min-instances",
        "1",
        "--max-instances",
        "4",
        "--queue-size",
        "3",
        "--keep-warm-secs",
        "300",
    )

    assert made["hardware"] == ["ADA_80_PLUS"]
    assert (made["min_instances"], made["max_instances"], made["queue_size"]) == (1, 4, 3)
    assert made["keep_warm_duration_in_seconds"] == 300
    assert get(cli, made["id"]) == made


def test_create_in_json_mode_prints_only_the_services_object(cli: CLI) -> None:
    result = cli.run(
        "--output",
        "json",
        "deployments",
        "create",
        "--name",
        "quiet",
        "--workflow-id",
        WORKFLOW_ID,
        "--workflow-version",
        "v1",
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "quiet"
    assert result.stderr == ""


BAD_CREATE_FLAGS = [
    (["--hardware", "RTX_4090"], "--hardware"),
    (["--hardware", "ampere_48"], "--hardware"),
    (["--min-instances", "31"], "--min-instances"),
    (["--min-instances", "-1"], "--min-instances"),
    (["--max-instances", "0"], "--max-instances"),
    (["--max-instances", "61"], "--max-instances"),
    (["--min-instances", "5", "--max-instances", "3"], "--max-instances"),
    (["--queue-size", "0"], "--queue-size"),
    (["--keep-warm-secs", "-1"], "--keep-warm-secs"),
    (["--min-instances", "two"], "--min-instances"),
    (["--name", "  "], "--name"),
]


@pytest.mark.parametrize(
    ("flags", "named"), BAD_CREATE_FLAGS, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_a_bad_create_flag_is_exit_64_and_nothing_is_sent(cli: CLI, flags: list[str], named: str) -> None:
    base = {"--name": "n", "--workflow-id": WORKFLOW_ID, "--workflow-version": "v1"}
    for flag in flags[::2]:
        base.pop(flag, None)
    args = [part for pair in base.items() for part in pair] + flags

    result = cli.run("deployments", "create", *args)

    assert result.returncode == 64, result.stderr
    assert named in result.stderr
    assert result.stdout == ""
    assert calls(cli, "deployment-create") == 0


def test_a_workflow_the_service_does_not_know_is_rejected_by_it_with_65(cli: CLI) -> None:
    result = cli.run(
        "deployments", "create", "--name", "n", "--workflow-id", WORKFLOW_ID, "--workflow-version", "v99"
    )

    assert result.returncode == 65
    assert "workflow_version" in result.stderr


# --- update --------------------------------------------------------------------------------------------------


def test_update_sends_only_the_flags_given_and_keeps_the_rest(cli: CLI) -> None:
    made = create(cli, "steady", "--max-instances", "2")

    result = cli.run("deployments", "update", made["id"], "--workflow-version", "v2", "--queue-size", "4")

    assert result.returncode == 0, result.stderr
    assert result.stderr == f"[ok] Updated deployment {made['id']}\n"
    fields = kv_lines(result.stdout)
    assert (fields["workflow_version"], fields["queue_size"]) == ("v2", "4")
    after = get(cli, made["id"])
    assert after["name"] == "steady"
    assert after["max_instances"] == 2
    assert after["hardware"] == made["hardware"]


def test_update_without_name_first_reads_the_deployment_for_it(cli: CLI) -> None:
    made = create(cli, "named")

    before = calls(cli, "deployment")
    cli.run("deployments", "update", made["id"], "--max-instances", "3")
    without_name = calls(cli, "deployment") - before
    cli.run("deployments", "update", made["id"], "--name", "renamed")
    with_name = calls(cli, "deployment") - before - without_name

    assert (without_name, with_name) == (1, 0)
    assert get(cli, made["id"])["name"] == "renamed"


def test_disable_and_enable_flip_is_enabled(cli: CLI) -> None:
    made = create(cli, "switch")

    disabled = cli.run("--output", "json", "deployments", "update", made["id"], "--disable")
    enabled = cli.run("--output", "json", "deployments", "update", made["id"], "--enable")

    assert disabled.returncode == enabled.returncode == 0, disabled.stderr
    assert json.loads(disabled.stdout)["is_enabled"] is False
    assert json.loads(enabled.stdout)["is_enabled"] is True
    assert enabled.stderr == ""


def test_update_with_nothing_to_change_is_exit_65_before_any_call(cli: CLI) -> None:
    made = create(cli, "unchanged")
    before = len(cli.calls())

    result = cli.run("deployments", "update", made["id"])

    assert result.returncode == 65
    assert "nothing to update" in result.stderr
    assert "--enable" in result.stderr
    assert len(cli.calls()) == before


@pytest.mark.parametrize(
    "flags",
    [
        ["--min-instances", "31"],
        ["--max-instances", "0"],
        ["--queue-size", "0"],
        ["--keep-warm-secs", "-5"],
        ["--hardware", "GPU"],
        ["--min-instances", "4", "--max-instances", "2"],
        ["--name", ""],
        ["--workflow-version", "  "],
    ],
    ids=lambda flags: " ".join(flags),
)
def test_a_bad_update_flag_is_exit_64_and_nothing_is_sent(cli: CLI, flags: list[str]) -> None:
    made = create(cli, "strict")
    before = len(cli.calls())

    result = cli.run("deployments", "update", made["id"], *flags)

    assert result.returncode == 64, result.stderr
    assert len(cli.calls()) == before


# --- delete --------------------------------------------------------------------------------------------------


def test_delete_with_yes_deletes_and_says_so(cli: CLI) -> None:
    made = create(cli, "doomed")

    result = cli.run("deployments", "delete", made["id"], "--yes")

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == f"[ok] Deleted deployment {made['id']}\n"
    assert made["id"] not in cli.run("--output", "json", "deployments", "list").stdout


def test_delete_in_json_mode_prints_the_official_shape_with_the_services_answer(cli: CLI) -> None:
    made = create(cli, "doomed")

    result = cli.run("--output", "json", "deployments", "delete", made["id"], "-y")

    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["deleted"] is True
    assert record["deployment_id"] == made["id"]
    assert isinstance(record["response"], dict)
    assert result.stderr == ""


@pytest.mark.parametrize("mode", [[], ["--output", "json"]], ids=["pretty", "json"])
def test_delete_without_a_terminal_and_without_yes_refuses_with_64(cli: CLI, mode: list[str]) -> None:
    made = create(cli, "kept")

    result = cli.run(*mode, "deployments", "delete", made["id"], input="y\n")

    assert result.returncode == 64
    assert "--yes" in result.stderr
    assert calls(cli, "deployment-delete") == 0
    assert get(cli, made["id"])["id"] == made["id"]


def run_on_terminal(cli: CLI, *args: str, answer: bytes) -> Result:
    """Run the command with stdin and stderr on a pseudo-terminal (stdout a pipe), typing ``answer`` once the
    question shows."""
    env = cli.env
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [RUNCOMFY, *args], stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=env, cwd=cli.home
        )
    finally:
        os.close(slave)
    seen, answered = b"", False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not data:
                break
            seen += data
            if not answered and b"[y/N]" in seen:
                os.write(master, answer)
                answered = True
        assert proc.stdout is not None
        stdout = proc.stdout.read().decode()
        proc.stdout.close()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)
    return Result(proc.returncode, stdout, seen.decode("utf-8", "replace").replace("\r\n", "\n"))


@pytest.mark.parametrize("answer", [b"y\n", b"YES\n"], ids=["y", "YES"])
def test_on_a_terminal_delete_asks_and_a_yes_deletes(cli: CLI, answer: bytes) -> None:
    made = create(cli, "asked")

    result = run_on_terminal(cli, "deployments", "delete", made["id"], answer=answer)

    assert result.returncode == 0, result.stderr
    assert f"permanently delete deployment {made['id']}? [y/N] " in result.stderr
    assert f"[ok] Deleted deployment {made['id']}" in result.stderr
    assert calls(cli, "deployment-delete") == 1


@pytest.mark.parametrize("answer", [b"n\n", b"\n", b"yes please\n"], ids=["n", "enter", "not-just-yes"])
def test_on_a_terminal_any_other_answer_keeps_the_deployment_and_exits_1(cli: CLI, answer: bytes) -> None:
    made = create(cli, "spared")

    result = run_on_terminal(cli, "deployments", "delete", made["id"], answer=answer)

    assert result.returncode == 1
    assert "was not deleted" in result.stderr
    assert result.stdout == ""
    assert calls(cli, "deployment-delete") == 0
    assert get(cli, made["id"])["id"] == made["id"]


def test_a_deleted_deployment_is_no_longer_found(cli: CLI) -> None:
    made = create(cli, "short-lived")
    assert cli.run("deployments", "delete", made["id"], "-y").returncode == 0

    result = cli.run("deployments", "get", made["id"])

    assert result.returncode == 65
    assert made["id"] in result.stderr


# --- hints for the Serverless API's gating errors -----------------------------------------------------------


GATING = [
    (402, 10001, "top up your RunComfy balance"),
    (409, 10002, "runcomfy deployments update {id} --enable"),
    (410, 10003, "runcomfy deployments list"),
]


@pytest.mark.parametrize(("status", "code", "hint"), GATING, ids=["402", "409", "410"])
def test_a_gating_error_gets_the_hint_that_fits_it(cli: CLI, status: int, code: int, hint: str) -> None:
    made = create(cli, "gated")
    body = {"error_code": code, "error_message": "refused by the gate"}
    cli.fault(route="deployment-update", kind="error", status=status, body=body)

    pretty = cli.run("deployments", "update", made["id"], "--name", "x")
    cli.fault(route="deployment-update", kind="error", status=status, body=body)
    as_json = cli.run("--output", "json", "deployments", "update", made["id"], "--name", "x")

    assert pretty.returncode == as_json.returncode == 65
    assert hint.format(id=made["id"]) in pretty.stderr.split("\nHint: ")[1]
    assert f"error_code {code}" in pretty.stderr
    error = json.loads(as_json.stderr)
    assert hint.format(id=made["id"]) in error["hint"]
    assert error["exit_code"] == 65


# --- proxy ---------------------------------------------------------------------------------------------------


PROXY = "proxy"


def warm_instance(cli: CLI) -> tuple[str, str]:
    """A deployment kept warm by one instance, booted: its id and the instance's."""
    made = create(cli, "warm", "--min-instances", "1", "--max-instances", "1")
    cli.advance(60)  # past the cold start
    cli.run("--output", "json", "deployments", "get", made["id"])  # the emulator catches up on a call
    instances = cli.control("GET", "instances").json()["instances"]
    [instance] = [i for i in instances if i["deployment_id"] == made["id"] and i.get("stopped_at") is None]
    return made["id"], instance["instance_id"]


def test_the_comfyui_backend_of_a_warm_instance_answers_through_the_proxy(cli: CLI) -> None:
    deployment_id, instance_id = warm_instance(cli)

    stats = cli.run("deployments", "proxy", deployment_id, instance_id, "api/system_stats")
    free = cli.run("--output", "json", "deployments", "proxy", deployment_id, instance_id, "/api/free")

    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["devices"][0]["type"] == "cuda"
    assert stats.stdout.startswith("{\n  ")
    assert free.returncode == 0, free.stderr
    assert free.stdout == "{}\n"


def test_a_path_the_backend_does_not_serve_is_exit_65(cli: CLI) -> None:
    deployment_id, instance_id = warm_instance(cli)

    result = cli.run("deployments", "proxy", deployment_id, instance_id, "api/nothing-here")

    assert result.returncode == 65
    assert "api/nothing-here" in result.stderr


def test_a_json_answer_of_the_instance_is_printed_as_json(cli: CLI) -> None:
    cli.fault(route=PROXY, kind="respond", status=200, body={"queue_remaining": 0, "exec_info": {"a": 1}})

    pretty = cli.run("deployments", "proxy", "d-1", "i-1", "api/prompt")
    cli.fault(route=PROXY, kind="respond", status=200, body={"queue_remaining": 0, "exec_info": {"a": 1}})
    compact = cli.run("--output", "json", "deployments", "proxy", "d-1", "i-1", "/api/prompt")

    assert pretty.returncode == compact.returncode == 0, pretty.stderr
    assert (
        json.loads(pretty.stdout)
        == json.loads(compact.stdout)
        == {"queue_remaining": 0, "exec_info": {"a": 1}}
    )
    assert pretty.stdout.startswith("{\n  ")
    assert compact.stdout.count("\n") == 1


def test_a_non_json_answer_is_printed_as_it_came(cli: CLI) -> None:
    cli.fault(route=PROXY, kind="non_json", status=200)

    result = cli.run("deployments", "proxy", "d-1", "i-1", "api/view")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("<html>")
    assert "upstream hiccup" in result.stdout


def test_an_empty_answer_says_the_path_returned_no_body(cli: CLI) -> None:
    cli.fault(route=PROXY, kind="respond", status=204)

    result = cli.run("deployments", "proxy", "d-1", "i-1", "/api/free")

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == "[ok] api/free returned no body\n"


@pytest.mark.parametrize("path", ["../../balance", "api/../../x", "api/view?filename=a", "api/x#frag", "  "])
def test_a_path_that_would_leave_the_proxy_is_refused_before_any_call(cli: CLI, path: str) -> None:
    result = cli.run("deployments", "proxy", "d-1", "i-1", path)

    assert result.returncode == 65
    assert cli.calls() == [] or all(call["route"] != PROXY for call in cli.calls())


def test_body_and_body_file_cannot_both_be_given(cli: CLI) -> None:
    result = cli.run("deployments", "proxy", "d-1", "i-1", "api/free", "--body", "{}", "--body-file", "-")

    assert result.returncode == 64
    assert "--body" in result.stderr


@pytest.mark.parametrize(
    ("args", "code"),
    [(["--body", "{not json"], 65), (["--body-file", "missing.json"], 66)],
    ids=["bad-json", "missing-file"],
)
def test_an_unusable_body_is_refused_before_any_call(cli: CLI, args: list[str], code: int) -> None:
    result = cli.run("deployments", "proxy", "d-1", "i-1", "api/free", *args)

    assert result.returncode == code
    assert all(call["route"] != PROXY for call in cli.calls())


# --- the token, help -----------------------------------------------------------------------------------------


def test_the_token_never_leaks_from_any_deployments_command(cli: CLI) -> None:
    made = create(cli, "canary")
    echo = {
        "error_code": 10002,
        "error_message": f"token {cli.token} is disabled",
        "detail": f"Bearer {cli.token}",
    }
    outputs: list[Result] = [
        cli.run("deployments", "list"),
        cli.run("-vv", "deployments", "get", made["id"]),
        cli.run("--output", "json", "deployments", "update", made["id"], "--disable"),
    ]
    cli.fault(route="deployment", kind="error", status=409, body=echo)
    outputs.append(cli.run("deployments", "get", made["id"]))
    cli.fault(route=PROXY, kind="respond", status=200, body={"echo": cli.token})
    outputs.append(cli.run("deployments", "proxy", made["id"], "i-1", "api/echo"))
    outputs.append(cli.run("-vv", "deployments", "delete", made["id"], "-y"))

    assert outputs[3].returncode == 65
    for result in outputs:
        cli.assert_no_leak(result.stdout, result.stderr)


@pytest.mark.parametrize("command", ["list", "get", "create", "update", "delete", "proxy"])
def test_every_deployments_command_help_has_examples(cli: CLI, command: str) -> None:
    result = cli.run("deployments", command, "--help")

    assert result.returncode == 0
    assert f"runcomfy deployments {command}" in result.stdout.split("Examples:")[1]
