"""Stand-in LoRA checkpoints are real safetensors files: checked by our reader against the format's rules, and
by the reference implementation (the ``safetensors`` package) independently."""

from __future__ import annotations

import ctypes
import json
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runcomfy.emulator.safetensors_file import (
    LORA_FEATURES,
    LORA_MODULES,
    MAX_HEADER_BYTES,
    build,
    lora_checkpoint,
    read_header,
    tensor_values,
)

safetensors = pytest.importorskip("safetensors")


def checkpoint(name: str = "my_lora", step: int = 250, **options: Any) -> bytes:
    options.setdefault("base_model", "black-forest-labs/FLUX.1-dev")
    options.setdefault("trigger_word", "ohwx")
    return lora_checkpoint(name, step, **options)


def raw_file(header: Any, buffer: bytes = b"", *, pad: bytes = b"") -> bytes:
    """A file with exactly this header (any JSON, or bytes as given) and data buffer: for broken files."""
    encoded = header if isinstance(header, bytes) else json.dumps(header).encode()
    encoded += pad
    return struct.pack("<Q", len(encoded)) + encoded + buffer


def split(data: bytes) -> tuple[int, bytes, bytes]:
    (size,) = struct.unpack_from("<Q", data)
    return size, data[8 : 8 + size], data[8 + size :]


def test_a_checkpoint_has_the_lora_tensors_and_metadata() -> None:
    header = read_header(checkpoint(rank=8))
    assert header["__metadata__"] == {
        "format": "lora",
        "name": "my_lora",
        "step": "250",
        "base_model": "black-forest-labs/FLUX.1-dev",
        "trigger_word": "ohwx",
        "network_rank": "8",
        "network_alpha": "8",
        "seed": "0",
        "software": "runcomfy emulator",
    }
    tensors = {name: info for name, info in header.items() if name != "__metadata__"}
    assert len(tensors) == 3 * len(LORA_MODULES)
    for module in LORA_MODULES:
        assert tensors[f"{module}.lora_down.weight"]["shape"] == [8, LORA_FEATURES]
        assert tensors[f"{module}.lora_up.weight"]["shape"] == [LORA_FEATURES, 8]
        assert tensors[f"{module}.lora_down.weight"]["dtype"] == "F16"
        assert tensors[f"{module}.alpha"] == {**tensors[f"{module}.alpha"], "dtype": "F32", "shape": []}
        assert module.startswith("lora_unet_")


def test_no_trigger_word_is_an_empty_string_in_the_metadata() -> None:
    assert read_header(checkpoint(trigger_word=None))["__metadata__"]["trigger_word"] == ""


def test_the_header_is_space_padded_so_the_data_is_8_byte_aligned() -> None:
    size, header, _ = split(checkpoint())
    assert size % 8 == 0
    assert header.startswith(b"{")
    assert header.rstrip(b" ").endswith(b"}")
    assert set(header[len(header.rstrip(b" ")) :]) <= {0x20}


def test_the_same_inputs_give_the_same_bytes_and_any_change_other_bytes() -> None:
    reference = checkpoint()
    assert checkpoint() == reference
    assert checkpoint(step=251) != reference
    assert checkpoint(name="other") != reference
    assert checkpoint(seed=1) != reference
    assert split(checkpoint(seed=1))[2] != split(reference)[2], "the values, not only the metadata, differ"


def test_values_are_readable_and_the_lora_grows_with_training() -> None:
    module = LORA_MODULES[0]

    def up_magnitude(step: int) -> float:
        values = tensor_values(checkpoint(step=step), f"{module}.lora_up.weight")
        return sum(abs(v) for v in values) / len(values)

    assert tensor_values(checkpoint(rank=6), f"{module}.alpha") == [6.0]
    assert up_magnitude(0) == 0.0  # a LoRA's up matrices start at zero
    assert 0 < up_magnitude(10) < up_magnitude(250) < up_magnitude(5000)
    down = tensor_values(checkpoint(), f"{module}.lora_down.weight")
    assert len(down) == 4 * LORA_FEATURES and len(set(down)) > 10


def test_tensor_values_refuses_unknown_names_and_other_dtypes() -> None:
    with pytest.raises(KeyError):
        tensor_values(checkpoint(), "nope")
    with pytest.raises(KeyError):
        tensor_values(checkpoint(), "__metadata__")
    with pytest.raises(ValueError, match="I32"):
        tensor_values(raw_file({"t": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4), "t")


def test_rank_must_be_positive() -> None:
    with pytest.raises(ValueError):
        checkpoint(rank=0)


def test_build_refuses_mismatched_values_and_duplicate_names() -> None:
    with pytest.raises(ValueError):
        build([("t", "F32", [2, 2], [1.0])], {})
    with pytest.raises(ValueError):
        build([("t", "F32", [], [1.0]), ("t", "F32", [], [1.0])], {})


def test_a_lone_surrogate_in_the_metadata_is_replaced() -> None:
    header = read_header(checkpoint(base_model="flux\udc80"))
    assert header["__metadata__"]["base_model"] == "flux?"


def test_the_reference_implementation_reads_a_checkpoint_the_same() -> None:
    data = checkpoint(rank=3)
    header = read_header(data)
    _, _, buffer = split(data)
    loaded = dict(safetensors.deserialize(data))
    assert set(loaded) == set(header) - {"__metadata__"}
    for name, info in loaded.items():
        begin, end = header[name]["data_offsets"]
        assert info["dtype"] == header[name]["dtype"]
        assert info["shape"] == header[name]["shape"]
        assert bytes(info["data"]) == buffer[begin:end]


def reference_serialize(tensors: dict[str, tuple[str, list[int], bytes]], metadata: dict[str, str]) -> bytes:
    """The same tensors written by the reference implementation."""
    buffers = {name: ctypes.create_string_buffer(raw, len(raw)) for name, (_, _, raw) in tensors.items()}
    specs = {
        name: safetensors.TensorSpec(
            dtype=dtype, shape=shape, data_ptr=ctypes.addressof(buffers[name]), data_len=len(raw)
        )
        for name, (dtype, shape, raw) in tensors.items()
    }
    return bytes(safetensors.serialize(specs, metadata))


def test_the_reference_implementation_lays_the_same_tensors_out_the_same() -> None:
    data = checkpoint(rank=5)
    header = read_header(data)
    size, _, buffer = split(data)
    names = {"F16": "float16", "F32": "float32"}
    tensors = {
        name: (names[info["dtype"]], info["shape"], buffer[info["data_offsets"][0] : info["data_offsets"][1]])
        for name, info in header.items()
        if name != "__metadata__"
    }
    reference = reference_serialize(tensors, header["__metadata__"])
    reference_size, _, reference_buffer = split(reference)
    assert reference_size == size
    assert reference_buffer == buffer
    assert read_header(reference) == header  # metadata key order aside, the headers agree


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter"),
        (b"\x02\x00\x00\x00\x00\x00\x00", "shorter"),
        (struct.pack("<Q", 100) + b"{}", "past the end"),
        (struct.pack("<Q", MAX_HEADER_BYTES + 1) + b"{}", "limit"),
        (raw_file(b"[]"), "start with"),
        (raw_file(b" {}"), "start with"),
        (raw_file(b'{"a":"\xff"}'), "UTF-8"),
        (raw_file(b"{}", pad=b"\0\0"), "padded"),
        (raw_file(b"{}", pad=b"\n"), "padded"),
        (raw_file(b"{,}"), "not JSON"),
        (raw_file(b'{"t":1,"t":2}'), "duplicate"),
        (raw_file({"__metadata__": {"k": 1}}), "__metadata__"),
        (raw_file({"__metadata__": ["k"]}), "__metadata__"),
        (raw_file({"t": [0, 4]}, b"\0" * 4), "exactly"),
        (raw_file({"t": {"dtype": "F32", "shape": [1]}}, b"\0" * 4), "exactly"),
        (
            raw_file({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}}, b"\0" * 4),
            "exactly",
        ),
        (raw_file({"t": {"dtype": "F31", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4), "dtype"),
        (raw_file({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4), "shape"),
        (raw_file({"t": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, b"\0" * 4), "shape"),
        (raw_file({"t": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}}, b"\0" * 4), "shape"),
        (raw_file({"t": {"dtype": "F32", "shape": 1, "data_offsets": [0, 4]}}, b"\0" * 4), "shape"),
        (raw_file({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, b"\0" * 4), "data_offsets"),
        (raw_file({"t": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}}, b"\0" * 4), "data_offsets"),
        (raw_file({"t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, b"\0" * 4), "end before"),
        (raw_file({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4), "expected"),
        (raw_file({"t": {"dtype": "F16", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4), "expected"),
        (raw_file({"t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8), "gap"),
        (
            raw_file(
                {
                    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
                },
                b"\0" * 8,
            ),
            "overlap",
        ),
        (raw_file({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 5), "cover 4"),
        (raw_file({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 3), "cover 4"),
        (raw_file({}, b"\0"), "cover 0"),
    ],
)
def test_read_header_refuses_a_broken_file(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_header(data)


def test_read_header_accepts_what_the_format_allows() -> None:
    assert read_header(raw_file({})) == {}
    assert read_header(raw_file({"__metadata__": {}}, pad=b"   ")) == {"__metadata__": {}}
    empty = {"t": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]}}
    assert read_header(raw_file(empty)) == empty
    out_of_order = {
        "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]},
        "a": {"dtype": "BOOL", "shape": [], "data_offsets": [0, 1]},
    }
    assert read_header(raw_file(out_of_order, b"\0\1\2")) == out_of_order


def test_a_truncated_or_extended_checkpoint_is_refused() -> None:
    data = checkpoint()
    with pytest.raises(ValueError):
        read_header(data[:-1])
    with pytest.raises(ValueError):
        read_header(data + b"\0")


@given(
    name=st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True),
    step=st.integers(0, 100_000),
    seed=st.integers(-(2**63), 2**63 - 1),
    rank=st.integers(1, 16),
    trigger=st.none() | st.text(max_size=40),
    base_model=st.text(max_size=60),
)
def test_any_checkpoint_round_trips(
    name: str, step: int, seed: int, rank: int, trigger: str | None, base_model: str
) -> None:
    data = lora_checkpoint(name, step, base_model=base_model, trigger_word=trigger, seed=seed, rank=rank)
    metadata = read_header(data)["__metadata__"]
    assert (metadata["name"], metadata["step"], metadata["seed"]) == (name, str(step), str(seed))
    assert metadata["base_model"] == base_model and metadata["trigger_word"] == (trigger or "")
    loaded = dict(safetensors.deserialize(data))
    assert loaded[f"{LORA_MODULES[0]}.lora_up.weight"]["shape"] == [LORA_FEATURES, rank]
    assert len(loaded) == 3 * len(LORA_MODULES)


@given(st.binary(max_size=200))
def test_any_bytes_are_a_header_or_a_value_error(data: bytes) -> None:
    try:
        read_header(data)
    except ValueError as error:
        assert str(error)


@given(position=st.integers(0, 10_000), byte=st.integers(0, 255))
def test_a_corrupted_checkpoint_is_a_header_or_a_value_error(position: int, byte: int) -> None:
    data = bytearray(checkpoint())
    data[position % len(data)] = byte
    try:
        read_header(bytes(data))
    except ValueError as error:
        assert str(error)


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda n: n != "__metadata__"),
        st.tuples(st.sampled_from(["F16", "F32"]), st.lists(st.integers(0, 3), max_size=3)),
        max_size=5,
    )
)
def test_built_files_are_valid_and_the_reference_reads_them(spec: dict[str, tuple[str, list[int]]]) -> None:
    tensors = []
    for name, (dtype, shape) in spec.items():
        count = 1
        for dim in shape:
            count *= dim
        tensors.append((name, dtype, shape, [float(i) for i in range(count)]))
    data = build(tensors, {"k": "v"})
    header = read_header(data)
    assert set(header) == {"__metadata__", *spec}
    loaded = dict(safetensors.deserialize(data))
    assert {name: info["shape"] for name, info in loaded.items()} == {n: s for n, (_, s) in spec.items()}
    for name, _, _, values in tensors:
        assert tensor_values(data, name) == values
