"""Small, real safetensors files standing in for the LoRA checkpoints a training run saves.

A downloaded checkpoint should load in the tools people use (ComfyUI, diffusers, the ``safetensors``
package), so it follows the format exactly: an 8-byte little-endian header size, a UTF-8 JSON header (padded
with spaces so the data starts 8-byte aligned) mapping each tensor to its dtype, shape and byte range, an
optional ``__metadata__`` of strings, then the tensors' bytes, contiguous and in header order. The values are
a pure function of (name, step, seed): a run's checkpoints are the same whenever it is replayed.
:func:`read_header` checks a file against the format's rules, and :func:`tensor_values` reads a tensor back.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
from typing import Any

HEADER_SIZE_BYTES = 8
MAX_HEADER_BYTES = 100_000_000  # the reference implementation's limit
DTYPE_SIZES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
LORA_FEATURES = 64  # the stand-in layers' width: real ones are thousands wide, these stay a few KB
LORA_MODULES = (
    "lora_unet_single_blocks_0_linear1",
    "lora_unet_double_blocks_0_img_attn_qkv",
    "lora_unet_double_blocks_0_txt_attn_qkv",
)
_METADATA = "__metadata__"
_STRUCT_CODES = {"F16": "e", "F32": "f"}


def lora_checkpoint(
    name: str, step: int, *, base_model: str, trigger_word: str | None, seed: int = 0, rank: int = 4
) -> bytes:
    """The bytes of a LoRA checkpoint of run ``name`` at ``step``: per module a ``lora_down.weight``
    ``[rank, 64]`` and ``lora_up.weight`` ``[64, rank]`` (F16) and an ``alpha`` scalar (F32), Kohya-style
    names. The up weights grow with ``step``, as a trained LoRA's do from their zero start."""
    if rank < 1:
        raise ValueError("rank must be at least 1")
    rng = random.Random(
        hashlib.sha256(f"{name}\x00{step}\x00{seed}".encode("utf-8", "surrogatepass")).digest()
    )
    growth = 1 - 1 / (1 + max(step, 0) / 250)
    tensors: list[tuple[str, str, list[int], list[float]]] = []
    for module in LORA_MODULES:
        down = [rng.gauss(0.0, 0.05) for _ in range(rank * LORA_FEATURES)]
        up = [rng.gauss(0.0, 0.02) * growth for _ in range(LORA_FEATURES * rank)]
        tensors.append((f"{module}.alpha", "F32", [], [float(rank)]))
        tensors.append((f"{module}.lora_down.weight", "F16", [rank, LORA_FEATURES], down))
        tensors.append((f"{module}.lora_up.weight", "F16", [LORA_FEATURES, rank], up))
    tensors.sort(key=lambda tensor: (-DTYPE_SIZES[tensor[1]], tensor[0]))  # the reference writer's layout
    metadata = {
        "format": "lora",
        "name": name,
        "step": str(step),
        "base_model": base_model,
        "trigger_word": trigger_word or "",
        "network_rank": str(rank),
        "network_alpha": str(rank),
        "seed": str(seed),
        "software": "runcomfy emulator",
    }
    return build(tensors, {key: _valid_text(value) for key, value in metadata.items()})


def _valid_text(text: str) -> str:
    """``text`` as valid Unicode: a lone surrogate (possible in YAML escapes) becomes ``?``, as other readers
    of the header would refuse it."""
    return text.encode("utf-8", "replace").decode("utf-8")


def build(tensors: list[tuple[str, str, list[int], list[float]]], metadata: dict[str, str]) -> bytes:
    """A safetensors file of ``(name, dtype, shape, values)`` tensors (F16/F32), laid out in the given order;
    the metadata keys sorted, so the same input always gives the same bytes."""
    header: dict[str, Any] = {_METADATA: dict(sorted(metadata.items()))}
    chunks: list[bytes] = []
    offset = 0
    for tensor_name, dtype, shape, values in tensors:
        if tensor_name in header:
            raise ValueError(f"duplicate tensor name {tensor_name!r}")
        if len(values) != _elements(shape):
            raise ValueError(f"{tensor_name}: {len(values)} values for shape {shape}")
        chunk = struct.pack(f"<{len(values)}{_STRUCT_CODES[dtype]}", *values)
        header[tensor_name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(chunk)]}
        chunks.append(chunk)
        offset += len(chunk)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)


def _elements(shape: list[int]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in the header")
        result[key] = value
    return result


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_header(data: bytes) -> dict[str, Any]:
    """The JSON header of safetensors ``data`` (``__metadata__`` included when present), after checking the
    whole file against the format: ValueError names the first rule broken."""
    if len(data) < HEADER_SIZE_BYTES:
        raise ValueError("shorter than the 8-byte header size")
    (size,) = struct.unpack_from("<Q", data)
    if size > MAX_HEADER_BYTES:
        raise ValueError(f"header size {size} is over the {MAX_HEADER_BYTES}-byte limit")
    if HEADER_SIZE_BYTES + size > len(data):
        raise ValueError(f"header size {size} runs past the end of the {len(data)}-byte file")
    raw = data[HEADER_SIZE_BYTES : HEADER_SIZE_BYTES + size]
    if not raw.startswith(b"{"):
        raise ValueError("the header does not start with '{'")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the header is not UTF-8: {exc}") from None
    body = text.rstrip(" ")
    if not body.endswith("}"):
        raise ValueError("the header is padded with something other than spaces")
    try:
        header = json.loads(body, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    metadata = header.get(_METADATA)
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise ValueError("__metadata__ must map strings to strings")
    buffer_size = len(data) - HEADER_SIZE_BYTES - size
    spans: list[tuple[int, int, str]] = []
    for tensor_name, info in header.items():
        if tensor_name == _METADATA:
            continue
        spans.append((*_check_tensor(tensor_name, info), tensor_name))
    spans.sort()
    position = 0
    for begin, end, tensor_name in spans:
        if begin != position:
            raise ValueError(
                f"{tensor_name}: data starts at {begin}, expected {position} (a gap or an overlap)"
            )
        position = end
    if position != buffer_size:
        raise ValueError(f"the tensors cover {position} bytes of a {buffer_size}-byte data buffer")
    return header


def _check_tensor(tensor_name: str, info: Any) -> tuple[int, int]:
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise ValueError(f"{tensor_name}: entry must have exactly dtype, shape and data_offsets")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise ValueError(f"{tensor_name}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_is_count(dim) for dim in shape):
        raise ValueError(f"{tensor_name}: shape must be a list of non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets):
        raise ValueError(f"{tensor_name}: data_offsets must be two non-negative integers")
    begin, end = offsets
    if end < begin:
        raise ValueError(f"{tensor_name}: data_offsets end before they begin")
    expected = _elements(shape) * DTYPE_SIZES[dtype]
    if end - begin != expected:
        raise ValueError(f"{tensor_name}: {end - begin} bytes for {dtype} {shape} ({expected} expected)")
    return begin, end


def tensor_values(data: bytes, tensor_name: str) -> list[float]:
    """The values of an F16/F32 tensor of safetensors ``data`` (checked with :func:`read_header`)."""
    header = read_header(data)
    info = header.get(tensor_name) if tensor_name != _METADATA else None
    if info is None:
        raise KeyError(tensor_name)
    if info["dtype"] not in _STRUCT_CODES:
        raise ValueError(f"{tensor_name}: only F16 and F32 tensors can be read, not {info['dtype']}")
    (size,) = struct.unpack_from("<Q", data)
    begin, end = info["data_offsets"]
    start = HEADER_SIZE_BYTES + size + begin
    count = _elements(info["shape"])
    return list(
        struct.unpack_from(f"<{count}{_STRUCT_CODES[info['dtype']]}", data[start : start + end - begin])
    )
