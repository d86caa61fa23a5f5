"""Issue 5 end to end: the catalog commands, shorthand inputs, local files as data URIs, the pre-flight check."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cli_harness import CLI
from PIL import Image

IMAGE = "openai/gpt-image-2/text-to-image"
KONTEXT = "blackforestlabs/flux-1-kontext/pro/edit"
ECHO = "runcomfy/emulator/echo"


def echoed(cli: CLI, *args: str, input: str | None = None) -> dict:
    """The input the server received, as the echo model returns it (no schema: values stay strings)."""
    result = cli.run("--output", "json", "run", ECHO, *args, "--no-download", input=input)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def sent_input(cli: CLI) -> dict:
    """The input of the last request the emulator received."""
    requests = cli.control("GET", "requests").json()["requests"]
    return requests[-1]["input"]


def test_models_list_shows_a_table_and_json_gives_the_raw_page(cli: CLI) -> None:
    table = cli.run("models", "list", "--search", "kontext")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == ["MODEL_ID", "NAME", "CATEGORY", "PRICE"]
    assert row.startswith(KONTEXT) and "$0.04/image" in row
    assert "Showing 1-1 of 1" in table.stderr
    page = json.loads(cli.run("--output", "json", "models", "list", "--limit", "2", "--offset", "1").stdout)
    assert len(page["models"]) == 2 and page["total"] >= 7
    videos = json.loads(cli.run("--output", "json", "models", "list", "--category", "text-to-video").stdout)
    assert [m["model_id"] for m in videos["models"]] == ["wan-ai/wan-2-2/text-to-video"]
    assert cli.run("models", "list", "--limit", "0").returncode == 64


def test_models_categories_prints_one_per_line(cli: CLI) -> None:
    result = cli.run("models", "categories")
    assert result.returncode == 0
    assert "text-to-image" in result.stdout.splitlines()
    assert json.loads(cli.run("--output", "json", "models", "categories").stdout)["categories"]


def test_models_get_shows_the_inputs_as_a_table_and_json_the_raw_record(cli: CLI) -> None:
    result = cli.run("models", "get", KONTEXT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{KONTEXT} — FLUX.1 Kontext [pro] Edit")
    table = lines[lines.index("") + 1 :]
    assert table[0].split() == ["INPUT", "TYPE", "REQUIRED", "DEFAULT", "ALLOWED", "DESCRIPTION"]
    rows = {line.split()[0]: line for line in table[1:]}
    assert set(rows) == {
        "prompt",
        "image_url",
        "seed",
        "aspect_ratio",
        "guidance_scale",
        "output_format",
        "safety_tolerance",
        "lora",
    }
    assert rows["prompt"].split()[1:3] == ["string", "yes"]
    assert "0..4294967295" in rows["seed"] and "png, jpeg" in rows["output_format"]
    assert rows["guidance_scale"].split()[1:3] == ["number", "3.5"]
    raw = json.loads(cli.run("--output", "json", "models", "get", KONTEXT).stdout)
    assert raw["input_schema"]["required"] == ["prompt", "image_url"]
    unknown = cli.run("models", "get", "no/such-model")
    assert unknown.returncode == 65 and "Traceback" not in unknown.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["prompt=a fox", "num_images=2"], {"prompt": "a fox", "num_images": 2}),
        (["prompt=x", "seed=7"], {"prompt": "x", "seed": 7}),
        (["prompt=true"], {"prompt": "true"}),  # a string field keeps the text
        (["prompt=x", "num_images:=3"], {"prompt": "x", "num_images": 3}),
        (['prompt:="quoted"'], {"prompt": "quoted"}),
    ],
)
def test_shorthand_values_are_converted_by_the_schema(cli: CLI, args: list[str], expected: dict) -> None:
    result = cli.run("run", IMAGE, *args, "--no-download")
    assert result.returncode == 0, result.stderr
    assert sent_input(cli) == expected


def test_number_boolean_array_and_object_conversions(cli: CLI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "scale": {"type": "number"},
            "flag": {"type": "boolean"},
            "sizes": {"type": "array", "items": {"type": "integer"}},
            "tags": {"type": "array", "items": {"type": "string"}},
            "opts": {"type": "object"},
        },
    }
    from runcomfy.shorthand import parse_assignments

    converted = parse_assignments(
        ["scale=2.5", "flag=yes", "sizes=512, 768", 'tags=["a", "b"]', 'opts={"k": 1}'], schema
    )
    assert converted == {
        "scale": 2.5,
        "flag": True,
        "sizes": [512, 768],
        "tags": ["a", "b"],
        "opts": {"k": 1},
    }


def test_shorthand_wins_over_input_and_input_file(cli: CLI) -> None:
    (cli.home / "in.json").write_text('{"prompt": "from file", "seed": 1}')
    assert cli.run("run", IMAGE, "--input-file", "in.json", "seed=9", "--no-download").returncode == 0
    assert sent_input(cli) == {"prompt": "from file", "seed": 9}
    assert (
        cli.run(
            "run", IMAGE, "--input", '{"prompt": "inline"}', "prompt=override", "--no-download"
        ).returncode
        == 0
    )
    assert sent_input(cli) == {"prompt": "override"}


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("seed=abc", "seed=abc: expected an integer"),
        ("num_images=2.5", "num_images=2.5: expected an integer"),
        ("seed", "seed: expected key=value, key:=JSON or key=@file"),
        ("seed:={", "not valid JSON"),
    ],
)
def test_bad_shorthand_is_a_one_line_error_and_nothing_is_sent(cli: CLI, arg: str, message: str) -> None:
    result = cli.run("run", IMAGE, "prompt=x", arg)
    assert result.returncode == 65
    assert message in result.stderr and "Traceback" not in result.stderr
    assert cli.calls("submit") == []


def test_a_local_file_travels_as_a_data_uri_and_the_echo_model_returns_the_same_bytes(cli: CLI) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, format="PNG")
    (cli.home / "photo.png").write_bytes(buffer.getvalue())
    blob = bytes(range(256)) * 10
    (cli.home / "blob.bin").write_bytes(blob)
    output = echoed(cli, "image=@photo.png", "data=@blob.bin")
    header, _, payload = output["image"].partition(",")
    assert header == "data:image/png;base64" and base64.b64decode(payload) == buffer.getvalue()
    header, _, payload = output["data"].partition(",")
    assert header == "data:application/octet-stream;base64" and base64.b64decode(payload) == blob


def test_stdin_can_be_a_file_input(cli: CLI) -> None:
    output = echoed(cli, "note=@-", input="hello from stdin")
    assert base64.b64decode(output["note"].partition(",")[2]) == b"hello from stdin"


def test_a_file_over_the_limit_is_refused_before_anything_is_sent(cli: CLI) -> None:
    big = cli.home / "big.png"
    with big.open("wb") as handle:
        handle.truncate(10 * 1024 * 1024 + 1)
    result = cli.run("run", KONTEXT, "prompt=x", "image_url=@big.png")
    assert result.returncode == 65
    assert "10 MiB" in result.stderr and "https URL" in result.stderr
    assert cli.calls("submit") == []
    missing = cli.run("run", KONTEXT, "prompt=x", "image_url=@nope.png")
    assert missing.returncode == 66


def test_a_misspelt_field_is_caught_before_submit_with_did_you_mean(cli: CLI) -> None:
    result = cli.run("run", IMAGE, "promt=a fox", "num_images=9", "quality=ultra")
    assert result.returncode == 65
    assert 'promt: unknown field; did you mean "prompt"?' in result.stderr
    assert "prompt: required field is missing" in result.stderr
    assert "num_images" in result.stderr and "quality" in result.stderr  # every problem is listed
    assert "nothing was submitted" in result.stderr
    assert cli.calls("submit") == []


def test_no_validate_really_sends_an_invalid_input_and_the_server_answers_422(cli: CLI) -> None:
    result = cli.run("run", IMAGE, "promt=a fox", "--no-validate")
    assert result.returncode == 65
    assert "HTTP 422" in result.stderr and "promt" in result.stderr
    assert len(cli.calls("submit")) == 1


def test_the_schema_is_cached_so_a_second_run_makes_no_catalog_call(cli: CLI) -> None:
    for _ in range(2):
        assert cli.run("run", IMAGE, "prompt=x", "--no-download").returncode == 0
    assert len(cli.calls("model")) == 1
    assert len(cli.calls("submit")) == 2
    expired = cli.run(
        "run", IMAGE, "prompt=x", "--no-download", env={"RUNCOMFY_CACHE_DIR": str(cli.home / "c2")}
    )
    assert expired.returncode == 0 and len(cli.calls("model")) == 2  # another cache: fetched again


def test_when_the_catalog_is_unreachable_the_run_goes_ahead_with_a_warning(cli: CLI) -> None:
    cli.fault(route="model", kind="error", status=503, times=None)
    result = cli.run("run", IMAGE, "prompt=x", "--no-download", env={"RUNCOMFY_RETRY_WINDOW": "1"})
    assert result.returncode == 0, result.stderr
    assert "submitting without a pre-flight check" in result.stderr
    assert len(cli.calls("submit")) == 1


def test_batch_lines_take_shorthand_defaults_and_are_all_checked_first(cli: CLI) -> None:
    batch = cli.home / "in.jsonl"
    batch.write_text('{"prompt": "one"}\n{"prompt": "two", "seed": 5}\n')
    result = cli.run("run", IMAGE, "--batch", str(batch), "seed=1", "--no-download")
    assert result.returncode == 0, result.stderr
    inputs = sorted(
        (r["input"] for r in cli.control("GET", "requests").json()["requests"]), key=lambda i: i["prompt"]
    )
    assert inputs == [{"prompt": "one", "seed": 1}, {"prompt": "two", "seed": 5}]  # the line wins
    bad = cli.home / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"promt": "typo"}\n')
    refused = cli.run("run", IMAGE, "--batch", str(bad))
    assert (
        refused.returncode == 65 and "line 2:" in refused.stderr and 'did you mean "prompt"' in refused.stderr
    )
    assert len(cli.calls("submit")) == 2  # only the first batch's


def test_library_validate_lists_every_problem(cli: CLI) -> None:
    from runcomfy import Client

    with Client(
        cli.token, model_api_base=cli.server.model_api_base, web_base=cli.server.origin, env={}
    ) as client:
        problems = client.validate(IMAGE, {"promt": "x", "size": "7x7"})
    assert {p.field for p in problems} == {"promt", "prompt", "size"}


# --- a hostile or slow catalog (issue 9) ----------------------------------------------------------------------


class StallingHost:
    """A loopback host that records each request and then never answers it (until the test ends)."""

    def __init__(self) -> None:
        self.contacted: list[str] = []
        self.release = threading.Event()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.contacted.append(self.path)
                host.release.wait(30)
                self.send_response(200)
                self.send_header("Content-Length", "19")
                self.end_headers()
                self.wfile.write(b'{"type": "integer"}')

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


@pytest.fixture
def stalling_host() -> Iterator[StallingHost]:
    host = StallingHost()
    try:
        yield host
    finally:
        host.close()


def serve_schema(cli: CLI, input_schema: dict[str, Any]) -> None:
    """The catalog answers every model lookup with a record carrying ``input_schema``."""
    cli.fault(route="model", kind="respond", body={"input_schema": input_schema}, times=None)


def test_a_schema_ref_to_another_host_or_a_file_is_never_followed(
    cli: CLI, stalling_host: StallingHost
) -> None:
    refusing = cli.home / "refusing.json"
    refusing.write_text('{"type": "integer"}')
    url = stalling_host.url("/schema.json")
    serve_schema(
        cli,
        {
            "type": "object",
            "properties": {"prompt": {"$ref": url}, "note": {"$ref": refusing.as_uri()}},
        },
    )

    result = cli.run("run", ECHO, "prompt=a fox", "note=hello", "--no-download", timeout=60)

    assert result.returncode == 0, (
        result.stderr
    )  # neither the host's schema nor the file's refused the strings
    assert stalling_host.contacted == []
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: pre-flight check:")]
    assert len(warnings) == 2 and url in warnings[0] + warnings[1]
    assert len(cli.calls("submit")) == 1


def test_an_internal_ref_of_a_served_schema_still_catches_a_problem(cli: CLI) -> None:
    serve_schema(
        cli,
        {
            "$defs": {"count": {"type": "integer", "maximum": 4}},
            "type": "object",
            "properties": {"prompt": {"type": "string"}, "num_images": {"$ref": "#/$defs/count"}},
        },
    )

    result = cli.run("run", IMAGE, "prompt=x", "num_images:=9")

    assert result.returncode == 65
    assert "num_images: must be <= 4; got 9" in result.stderr
    assert "warning:" not in result.stderr
    assert cli.calls("submit") == []


def test_a_catastrophic_pattern_in_a_served_schema_is_skipped_with_a_warning(cli: CLI) -> None:
    serve_schema(
        cli,
        {
            "type": "object",
            "properties": {
                "prompt": {"type": "string", "pattern": "^(a|aa)+$"},
                "code": {"type": "string", "pattern": "^[A-Z]+$"},
            },
        },
    )

    slow = cli.run("run", IMAGE, "prompt=" + "a" * 60 + "!", "--no-download", timeout=60)
    refused = cli.run("run", IMAGE, "prompt=a", "code=lower")

    assert slow.returncode == 0, slow.stderr
    assert "warning: pre-flight check: the pattern" in slow.stderr and "^(a|aa)+$" in slow.stderr
    assert refused.returncode == 65 and 'code: must match the pattern "^[A-Z]+$"' in refused.stderr
    assert len(cli.calls("submit")) == 1


def test_a_stalled_catalog_delays_the_run_by_the_pre_flight_budget_not_the_http_timeout(cli: CLI) -> None:
    # Every catalog call is held for 3 s at least; a 1 s retry window makes the pre-flight budget 1 s, so the run
    # must give up on the schema after about a second (not wait on it for the 60 s HTTP timeout) and go ahead.
    cli.fault(route="model", kind="latency", seconds=3, times=None)

    result = cli.run("run", IMAGE, "prompt=x", "--no-download", env={"RUNCOMFY_RETRY_WINDOW": "1"})

    assert result.returncode == 0, result.stderr
    assert "submitting without a pre-flight check" in result.stderr
    assert len(cli.calls("submit")) == 1


def test_a_batch_shows_each_pre_flight_warning_once(cli: CLI, stalling_host: StallingHost) -> None:
    serve_schema(cli, {"type": "object", "properties": {"prompt": {"$ref": stalling_host.url("/s.json")}}})
    batch = cli.home / "in.jsonl"
    batch.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(3)))

    result = cli.run("run", ECHO, "--batch", str(batch), "--no-download", timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("warning: pre-flight check:") == 1
    assert stalling_host.contacted == []
    assert len(cli.calls("submit")) == 3
