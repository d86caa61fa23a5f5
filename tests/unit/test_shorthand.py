"""Shorthand inputs: ``key=value`` / ``key:=JSON`` / ``key=@file`` conversions, files as data URIs, and limits."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runcomfy import errors
from runcomfy.emulator import media
from runcomfy.emulator.catalog import CATALOG
from runcomfy.emulator.probes import SIZED_ID
from runcomfy.emulator.standins import GPT_IMAGE_ID, KONTEXT_ID
from runcomfy.shorthand import MAX_INLINE_FILE_BYTES, data_uri, merge_input, parse_assignments, sniff_mime

KONTEXT = CATALOG[KONTEXT_ID].input_schema
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "prompt": {"type": "string"},
        "seed": {"type": "integer"},
        "scale": {"type": "number"},
        "flag": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "sizes": {"type": "array", "items": {"type": "integer"}},
        "weights": {"type": "array", "items": {"type": "number"}},
        "anything": {"type": "array"},
        "options": {"type": "object"},
        "maybe_int": {"type": ["null", "integer"]},
        "nullable_bool": {"anyOf": [{"type": "null"}, {"type": "boolean"}]},
        "untyped": {"description": "no type"},
    },
}


def decode(uri: str) -> tuple[str, bytes]:
    header, _, payload = uri.partition(",")
    assert header.startswith("data:") and header.endswith(";base64")
    return header[5 : -len(";base64")], base64.b64decode(payload, validate=True)


def parse(*args: str, schema: Any = SCHEMA, **kwargs: Any) -> dict[str, Any]:
    return parse_assignments(list(args), schema, **kwargs)


# --- the syntax ----------------------------------------------------------------------------------------------------


def test_emulator_schema_converts_the_done_when_example() -> None:
    assert parse('prompt="add a red hat"', "seed=7", "guidance_scale=3.5", schema=KONTEXT) == {
        "prompt": '"add a red hat"',
        "seed": 7,
        "guidance_scale": 3.5,
    }


def test_values_keep_everything_after_the_first_equals_sign() -> None:
    assert parse("prompt=a=b c ") == {"prompt": "a=b c "}
    assert parse("prompt=") == {"prompt": ""}


def test_repeated_key_last_wins() -> None:
    assert parse("seed=1", "seed=2") == {"seed": 2}


def test_a_dotted_key_is_just_a_name() -> None:
    assert parse("a.b=1") == {"a.b": "1"}


@pytest.mark.parametrize("arg", ["seed", "=7", ":=7", " =7", "prompt"])
def test_malformed_arguments_are_refused_naming_the_argument(arg: str) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        parse(arg)
    assert str(caught.value).startswith(f"{arg}: ")
    assert not isinstance(caught.value, errors.InputFileNotFound)


def test_malformed_argument_message_shows_the_accepted_forms() -> None:
    with pytest.raises(errors.InvalidInput, match=r"^seed: expected key=value, key:=JSON or key=@file$"):
        parse("seed")
    with pytest.raises(errors.InvalidInput, match=r"^=7: the field name before '=' is empty$"):
        parse("=7")


# --- conversions by schema type ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("seed=7", 7),
        ("seed=-3", -3),
        ("seed=+4", 4),
        ("seed= 12 ", 12),
        ("seed=007", 7),
        ("seed=123456789012345678901234567890", 123456789012345678901234567890),
    ],
)
def test_integer_fields_take_whole_numbers(arg: str, expected: int) -> None:
    assert parse(arg)["seed"] == expected


@pytest.mark.parametrize("value", ["7.5", "abc", "", "1e3", "1_000", "0x10", "7.0", "٣"])
def test_integer_fields_refuse_anything_else(value: str) -> None:
    with pytest.raises(errors.InvalidInput, match=r": expected an integer$") as caught:
        parse(f"seed={value}")
    assert str(caught.value) == f"seed={value}: expected an integer"


@given(st.integers())
def test_any_integer_round_trips_through_integer_conversion(number: int) -> None:
    assert parse(f"seed={number}") == {"seed": number}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3.5", 3.5), ("2", 2), ("-0.25", -0.25), (".5", 0.5), ("1e3", 1000.0), ("5.", 5.0), ("1E-2", 0.01)],
)
def test_number_fields_take_ints_and_floats(value: str, expected: float) -> None:
    converted = parse(f"scale={value}")["scale"]
    assert converted == expected
    assert type(converted) is type(expected)


@pytest.mark.parametrize("value", ["abc", "nan", "inf", "-Infinity", "1e999", "", "1,5", "1_0"])
def test_number_fields_refuse_non_numbers_and_non_finite_values(value: str) -> None:
    with pytest.raises(errors.InvalidInput, match=r": expected a number$"):
        parse(f"scale={value}")


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_float_round_trips_through_number_conversion(number: float) -> None:
    assert parse(f"scale={number!r}")["scale"] == number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("On", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("NO", False),
        ("off", False),
    ],
)
def test_boolean_fields_take_the_usual_words_in_any_case(value: str, expected: bool) -> None:
    assert parse(f"flag={value}") == {"flag": expected}


@pytest.mark.parametrize("value", ["2", "y", "", "maybe", "truth"])
def test_boolean_fields_refuse_other_words(value: str) -> None:
    with pytest.raises(errors.InvalidInput, match=r"^flag=.*: expected a boolean \(true/false"):
        parse(f"flag={value}")


def test_array_fields_take_a_json_array_as_is() -> None:
    assert parse('tags=["a,b", "c"]') == {"tags": ["a,b", "c"]}
    assert parse("anything=[1, true, null]") == {"anything": [1, True, None]}


def test_array_fields_split_on_commas_and_convert_each_item() -> None:
    assert parse("tags=cat, dog ,bird") == {"tags": ["cat", "dog", "bird"]}
    assert parse("sizes=512,768") == {"sizes": [512, 768]}
    assert parse("weights=0.5,1") == {"weights": [0.5, 1]}
    assert parse("anything=x,2") == {"anything": ["x", "2"]}
    assert parse("tags=") == {"tags": []}
    assert parse("tags=solo") == {"tags": ["solo"]}


def test_array_items_that_do_not_convert_name_the_item() -> None:
    with pytest.raises(errors.InvalidInput, match=r"^sizes=512,big: item 2: expected an integer$"):
        parse("sizes=512,big")


def test_a_broken_json_array_falls_back_to_comma_separated_items() -> None:
    assert parse("tags=[a, b") == {"tags": ["[a", "b"]}


def test_object_fields_need_a_json_object() -> None:
    assert parse('options={"a": [1, 2]}') == {"options": {"a": [1, 2]}}
    for bad in ["[1]", "a=1", "", "{"]:
        with pytest.raises(errors.InvalidInput, match=r"expected a JSON object"):
            parse(f"options={bad}")


def test_type_lists_use_the_first_non_null_type() -> None:
    assert parse("maybe_int=5", "nullable_bool=yes") == {"maybe_int": 5, "nullable_bool": True}


def test_null_is_a_string_unless_given_with_json_syntax() -> None:
    assert parse("prompt=null") == {"prompt": "null"}
    assert parse("maybe_int:=null") == {"maybe_int": None}
    with pytest.raises(errors.InvalidInput, match="expected an integer"):
        parse("maybe_int=null")


def test_strings_unknown_fields_untyped_fields_and_no_schema_keep_the_text() -> None:
    assert parse("prompt=7", "other=true", "untyped=1.5") == {
        "prompt": "7",
        "other": "true",
        "untyped": "1.5",
    }
    assert parse("seed=7", "flag=yes", schema=None) == {"seed": "7", "flag": "yes"}
    assert parse("seed=7", schema={"properties": "broken"}) == {"seed": "7"}


# --- key:=JSON -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("seed:=7", 7),
        ('seed:="7"', "7"),
        ("x:=[1, {}]", [1, {}]),
        ("x:=null", None),
        ("x:=false", False),
        ('prompt:="@not-a-file"', "@not-a-file"),
        ("x:=2.5", 2.5),
    ],
)
def test_json_assignments_take_any_json_value_as_written(arg: str, expected: Any) -> None:
    key = arg.split(":=", 1)[0]
    assert parse(arg) == {key: expected}


@pytest.mark.parametrize("value", ["", "{", "NaN", "Infinity", "abc", "[" * 100 + "]" * 100])
def test_json_assignments_refuse_invalid_or_hostile_json(value: str) -> None:
    with pytest.raises(errors.InvalidInput, match=r"^x:=.*: not valid JSON \("):
        parse(f"x:={value}")


# --- key=@file and key=@- --------------------------------------------------------------------------------------------

PNG = media.draw_image("hat", 1, 8, 8, "png")


def test_a_file_is_sent_as_a_data_uri_with_its_sniffed_mime_type(tmp_path: Path) -> None:
    photo = tmp_path / "photo.bin"
    photo.write_bytes(PNG)
    fields = parse(f"image_url=@{photo}", "seed=7", schema=KONTEXT)
    assert decode(fields["image_url"]) == ("image/png", PNG)
    assert fields["seed"] == 7


def test_a_file_in_the_home_directory_can_be_named_with_a_tilde(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "a.txt").write_bytes(b"hello")
    assert decode(parse("f=@~/a.txt")["f"]) == ("text/plain", b"hello")


def test_a_missing_file_raises_input_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(errors.InputFileNotFound, match=r"^image_url=@.*nope\.png: no such file$"):
        parse(f"image_url=@{missing}")


def test_a_directory_or_an_empty_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidInput, match="is a directory"):
        parse(f"image_url=@{tmp_path}")
    with pytest.raises(errors.InvalidInput, match=r"^image_url=@: no file name after '@'$"):
        parse("image_url=@")


def test_an_unreadable_path_is_refused_with_the_reason(tmp_path: Path) -> None:
    parent = tmp_path / "photo.png"
    parent.write_bytes(PNG)
    with pytest.raises(errors.InvalidInput, match=r"cannot read the file \(Not a directory\)$") as caught:
        parse(f"image_url=@{parent}/child")
    assert not isinstance(caught.value, errors.InputFileNotFound)


def test_a_file_at_the_limit_is_accepted(tmp_path: Path) -> None:
    big = tmp_path / "exact.bin"
    with big.open("wb") as file:
        file.truncate(MAX_INLINE_FILE_BYTES)
    mime, data = decode(parse(f"f=@{big}")["f"])
    assert len(data) == MAX_INLINE_FILE_BYTES
    assert mime == "application/octet-stream"


def test_a_file_over_the_limit_is_refused_with_the_limit_and_a_hint(tmp_path: Path) -> None:
    big = tmp_path / "huge.mp4"
    with big.open("wb") as file:
        file.truncate(MAX_INLINE_FILE_BYTES + 1)
    with pytest.raises(errors.InvalidInput) as caught:
        parse(f"video=@{big}")
    message = str(caught.value)
    assert "10 MiB" in message
    assert "https URL" in message
    assert "video=https://" in message
    assert not isinstance(caught.value, errors.InputFileNotFound)


def test_stdin_is_read_with_at_dash_and_sniffed() -> None:
    fields = parse("image_url=@-", stdin=io.BytesIO(PNG))
    assert decode(fields["image_url"]) == ("image/png", PNG)


def test_stdin_over_the_limit_is_refused_after_reading_one_byte_past_it() -> None:
    class CountingStream(io.RawIOBase):
        def __init__(self) -> None:
            self.served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            size = min(len(buffer), 1024 * 1024)
            buffer[:size] = b"\0" * size
            self.served += size
            return size

    stream = CountingStream()
    with pytest.raises(errors.InvalidInput, match=r"^f=@-: the file is larger than the 10 MiB limit"):
        parse("f=@-", stdin=stream)  # type: ignore[arg-type]
    assert stream.served == MAX_INLINE_FILE_BYTES + 1


def test_stdin_can_feed_only_one_argument() -> None:
    with pytest.raises(errors.InvalidInput, match="only one argument can read stdin"):
        parse("a=@-", "b=@-", stdin=io.BytesIO(b"x"))


def test_empty_stdin_gives_an_empty_data_uri() -> None:
    assert parse("f=@-", stdin=io.BytesIO(b"")) == {"f": "data:application/octet-stream;base64,"}


# --- data URIs and MIME sniffing -----------------------------------------------------------------------------------


@given(st.binary(max_size=2048))
def test_data_uri_round_trips_any_bytes(data: bytes) -> None:
    mime, decoded = decode(data_uri(data))
    assert decoded == data
    assert mime == sniff_mime(data)


def test_data_uri_decodes_with_the_emulators_reader() -> None:
    assert media.decode_data_uri(data_uri(PNG, "x.png")) == ("image/png", PNG)


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 8, "image/png"),
        (b"\xff\xd8\xff\xe0\0\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"RIFF\x10\0\0\0WEBPVP8 ", "image/webp"),
        (b"RIFF\x10\0\0\0WAVEfmt ", "audio/wav"),
        (b"\0\0\0\x18ftypisom\0\0\0\0", "video/mp4"),
        (b"\0\0\0\x18ftypmp42\0\0\0\0", "video/mp4"),
        (b"\0\0\0\x14ftypqt  \0\0\0\0", "video/quicktime"),
        (b"\0\0\0\x1cftypM4A \0\0\0\0", "audio/mp4"),
        (b"\0\0\0\x1cftypavif\0\0\0\0", "image/avif"),
        (b"\0\0\0\x18ftypheic\0\0\0\0", "image/heic"),
        (b"ID3\x04\0\0\0\0\0\0", "audio/mpeg"),
        (b"\xff\xfb\x90\x44\0\0", "audio/mpeg"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", "video/x-matroska"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"OggS\0\x02", "audio/ogg"),
        (b"fLaC\0\0\0\x22", "audio/flac"),
        (b"II*\0\x08\0\0\0", "image/tiff"),
    ],
)
def test_mime_comes_from_magic_bytes_whatever_the_name(head: bytes, mime: str) -> None:
    assert sniff_mime(head, "misleading.txt") == mime


def test_real_media_from_the_emulator_is_recognised() -> None:
    assert sniff_mime(media.draw_image("x", 1, 8, 8, "jpeg")) == "image/jpeg"
    assert sniff_mime(media.draw_image("x", 1, 8, 8, "webp")) == "image/webp"


def test_mime_falls_back_to_the_name_then_octet_stream() -> None:
    assert sniff_mime(b"hello", "notes.txt") == "text/plain"
    assert sniff_mime(b"{}", "input.json") == "application/json"
    assert sniff_mime(b"hello", "noext") == "application/octet-stream"
    assert sniff_mime(b"hello") == "application/octet-stream"
    assert sniff_mime(b"", None) == "application/octet-stream"


# --- merge_input -----------------------------------------------------------------------------------------------------


def test_merge_input_lets_shorthand_win_at_the_top_level_only() -> None:
    base = {"prompt": "old", "options": {"a": 1, "b": 2}, "seed": 1}
    merged = merge_input(base, {"prompt": "new", "options": {"a": 9}})
    assert merged == {"prompt": "new", "options": {"a": 9}, "seed": 1}
    assert base["prompt"] == "old"


def test_shorthand_output_is_json_serialisable_for_the_emulator_schemas(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    photo.write_bytes(PNG)
    fields = parse(
        "size_bytes=1024", "content_length=off", "filename=a.bin", schema=CATALOG[SIZED_ID].input_schema
    )
    assert fields == {"size_bytes": 1024, "content_length": False, "filename": "a.bin"}
    gpt = parse("prompt=cat", "num_images=2", schema=CATALOG[GPT_IMAGE_ID].input_schema)
    json.dumps({**fields, **gpt, "img": parse(f"i=@{photo}")["i"]})
