"""AI Toolkit configs: the commented template ``runcomfy train init`` writes, filling a dataset folder into a
config, and the local check a config passes before it is submitted.

A training job is configured by an AI Toolkit YAML file that the service runs as it is; the only path in it
that refers to the user's account is each process's dataset folder, ``/app/ai-toolkit/datasets/<dataset
name>``. :func:`template` writes a config that works as it stands (defaults for a FLUX LoRA, a comment on
every field a person may want to change); :func:`fill_dataset` points a config at a dataset while keeping the
user's comments (it edits the text where the folder is written, and only re-writes the YAML when there is no
such line to edit); :func:`config_problems` finds what would make the service refuse a config (not YAML, no
``config.process``) before anything is sent. Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from runcomfy.errors import InvalidInput

__all__ = [
    "DATASETS_ROOT",
    "DEFAULT_BASE_MODEL",
    "DEFAULT_STEPS",
    "MAX_STEPS",
    "OUTPUT_FOLDER",
    "config_name",
    "config_problems",
    "dataset_folder",
    "default_job_name",
    "fill_dataset",
    "template",
]

DATASETS_ROOT = "/app/ai-toolkit/datasets"
OUTPUT_FOLDER = "/app/ai-toolkit/output"
DEFAULT_BASE_MODEL = "black-forest-labs/FLUX.1-dev"
DEFAULT_STEPS = 1000
MAX_STEPS = 100_000
COMMENT_COLUMN = 48
SAMPLES_PER_RUN = 4  # checkpoints and samples are written this many times over a run
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_NAME = 64
_PLAIN_SCALAR = re.compile(r"[A-Za-z0-9_./-]+")
_RESERVED_PLAIN = frozenset({"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"})


def dataset_folder(dataset_name: str) -> str:
    """Where AI Toolkit finds a dataset of the account: ``/app/ai-toolkit/datasets/<dataset name>``."""
    name = dataset_name.strip()
    if not name or "/" in name or name in (".", ".."):
        raise InvalidInput(f"{dataset_name!r} cannot name a dataset folder")
    return f"{DATASETS_ROOT}/{name}"


def default_job_name(dataset_name: str) -> str:
    """A job (and LoRA file) name made from a dataset's: ``<dataset>_lora`` in AI Toolkit's name characters."""
    stem = _NAME_CHARS.sub("_", dataset_name.strip()).strip("._-") or "my"
    return f"{stem[: _MAX_NAME - 5]}_lora"


def _scalar(value: str) -> str:
    """``value`` as a YAML scalar: plain when it reads back as the same string, else double-quoted (a JSON
    string is a valid YAML double-quoted scalar)."""
    if (
        _PLAIN_SCALAR.fullmatch(value)
        and value.lower() not in _RESERVED_PLAIN
        and not value[0].isdigit()
        and not value.startswith(("-", "."))
    ):
        return value
    return json.dumps(value, ensure_ascii=False)


def _commented(code: str, comment: str) -> str:
    """A line of YAML with a comment after it, comments aligned at one column where the code allows."""
    return f"{code:<{COMMENT_COLUMN}}  # {comment}"


def _every(steps: int) -> int:
    return max(1, min(steps, round(steps / SAMPLES_PER_RUN)))


def template(
    dataset_name: str,
    *,
    base_model: str = DEFAULT_BASE_MODEL,
    steps: int = DEFAULT_STEPS,
    trigger_word: str | None = None,
    name: str | None = None,
) -> str:
    """A commented AI Toolkit config for a LoRA of ``base_model`` trained on ``dataset_name``, ready to submit.

    Checkpoints and samples are written every ``steps / 4`` steps (rounded); the sample prompts use the trigger
    word when there is one. Raises :class:`InvalidInput` for steps out of range or an unusable name.
    """
    if not 1 <= steps <= MAX_STEPS:
        raise InvalidInput(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
    job_name = name if name is not None else default_job_name(dataset_name)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", job_name):
        raise InvalidInput(
            f"the name {job_name!r} cannot be used: 1 to 64 letters, digits, '_', '.' or '-' (it names the "
            "job and the LoRA files)"
        )
    if not base_model.strip():
        raise InvalidInput("the base model must not be empty")
    trigger = trigger_word.strip() if trigger_word and trigger_word.strip() else None
    every = _every(steps)
    is_flux = "flux" in base_model.lower()
    lead = f"{trigger}, " if trigger else ""
    prompts = [
        f"{lead}a portrait in soft window light",
        f"{lead}a city street at night, neon signs",
        f"{lead}a watercolor painting of a lighthouse",
    ]
    trigger_line = (
        _commented(f"      trigger_word: {_scalar(trigger)}", "the word that calls the LoRA up in a prompt")
        if trigger
        else _commented("      # trigger_word: ohwx", "optional: a word that calls the LoRA up in a prompt")
    )
    model_lines = [
        _commented(f"        name_or_path: {_scalar(base_model)}", "the base model the LoRA is trained for")
    ]
    if is_flux:
        model_lines += [
            "        is_flux: true",
            _commented("        quantize: true", "8-bit base weights: fits the GPU, barely changes quality"),
        ]
    prompt_lines = [f"          - {json.dumps(prompt, ensure_ascii=False)}" for prompt in prompts]
    lines = [
        "# AI Toolkit config for a LoRA, written by `runcomfy train init`.",
        "# Submit it with:  runcomfy train submit --config <this file> --wait",
        "# Every field is AI Toolkit's own; the comments say what is worth changing.",
        "job: extension",
        "config:",
        _commented(f"  name: {_scalar(job_name)}", "names the job and the LoRA files (<name>.safetensors)"),
        "  process:",
        "    - type: sd_trainer",
        _commented(f"      training_folder: {OUTPUT_FOLDER}", "where checkpoints and samples are written"),
        "      device: cuda:0",
        trigger_line,
        "      network:",
        "        type: lora",
        _commented("        linear: 16", "the LoRA's rank: higher learns more detail, makes larger files"),
        "        linear_alpha: 16",
        "      save:",
        "        dtype: float16",
        _commented(f"        save_every: {every}", "a checkpoint every N steps (and one at the last step)"),
        "        max_step_saves_to_keep: 4",
        "      datasets:",
        _commented(f"        - folder_path: {_scalar(dataset_folder(dataset_name))}", "the dataset, by name"),
        _commented("          caption_ext: txt", "each image's caption: a .txt file of the same name"),
        "          caption_dropout_rate: 0.05",
        _commented("          resolution: [512, 768, 1024]", "images are bucketed at these sizes"),
        "      train:",
        "        batch_size: 1",
        _commented(f"        steps: {steps}", f"total training steps (1 to {MAX_STEPS})"),
        "        gradient_accumulation_steps: 1",
        "        train_unet: true",
        "        train_text_encoder: false",
        "        gradient_checkpointing: true",
        "        noise_scheduler: flowmatch",
        "        optimizer: adamw8bit",
        _commented("        lr: 0.0001", "learning rate"),
        "        dtype: bf16",
        "      model:",
        *model_lines,
        "      sample:",
        "        sampler: flowmatch",
        _commented(f"        sample_every: {every}", "sample images every N steps, one per prompt"),
        "        width: 1024",
        "        height: 1024",
        _commented("        prompts:", "what the samples show (one image per prompt)"),
        *prompt_lines,
        "        seed: 42",
        "        walk_seed: true",
        "        guidance_scale: 4",
        "        sample_steps: 20",
        "meta:",
        '  name: "[name]"',
        '  version: "1.0"',
    ]
    return "\n".join(lines) + "\n"


# --- reading a config ----------------------------------------------------------------------------------------


def _load(config_text: str) -> Any:
    try:
        return yaml.safe_load(config_text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the config is not valid YAML: {_yaml_reason(exc)}") from None


def _yaml_reason(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def config_problems(config_text: str) -> list[dict[str, Any]]:
    """What makes a config unusable before it is sent, each as ``{"field", "message", "kind"}`` (empty: none).

    Checked: it is YAML, a mapping, with a ``config`` mapping whose ``process`` is a non-empty list of mappings.
    The rest (steps, dataset folders, model) is the service's to judge; its 422 names the field.
    """
    if not config_text.strip():
        return [{"field": "", "message": "the config is empty", "kind": "empty"}]
    try:
        document = yaml.safe_load(config_text)
    except yaml.YAMLError as exc:
        return [{"field": "", "message": f"not valid YAML: {_yaml_reason(exc)}", "kind": "yaml"}]
    if not isinstance(document, dict):
        kind = type(document).__name__ if document is not None else "nothing"
        return [{"field": "", "message": f"must be a YAML mapping, got {kind}", "kind": "type"}]
    config = document.get("config")
    if not isinstance(config, dict):
        message = "is missing" if config is None else "must be a mapping"
        return [{"field": "config", "message": message, "kind": "required"}]
    process = config.get("process")
    if process is None:
        return [{"field": "config.process", "message": "is missing", "kind": "required"}]
    if not isinstance(process, list) or not process:
        return [{"field": "config.process", "message": "must be a non-empty list", "kind": "type"}]
    return [
        {"field": f"config.process[{index}]", "message": "must be a mapping", "kind": "type"}
        for index, entry in enumerate(process)
        if not isinstance(entry, dict)
    ]


def config_name(config_text: str) -> str | None:
    """The config's ``config.name`` (the job's name), or None when it has none or is not a config."""
    try:
        document = yaml.safe_load(config_text)
    except yaml.YAMLError:
        return None
    config = document.get("config") if isinstance(document, dict) else None
    name = config.get("name") if isinstance(config, dict) else None
    return name if isinstance(name, str) and name.strip() else None


# --- filling a dataset in ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    start: int
    end: int


def fill_dataset(config_text: str, dataset_name: str) -> str:
    """``config_text`` with every process's ``datasets[0].folder_path`` set to ``dataset_name``'s folder.

    Where each of those values is written, only the value is replaced, so comments and layout stay as they are;
    when a process has no such value (no ``datasets``, or a first dataset without ``folder_path``) the config
    is loaded and written again (comments are then lost). Raises :class:`InvalidInput` when the config is not
    YAML or has no ``config.process`` list of mappings.
    """
    problems = config_problems(config_text)
    if problems:
        first = problems[0]
        where = f"{first['field']}: " if first["field"] else ""
        raise InvalidInput(f"cannot fill the dataset into the config: {where}{first['message']}")
    folder = dataset_folder(dataset_name)
    spans = _folder_value_spans(config_text)
    if spans is None:
        return _rewritten(config_text, folder)
    replacement = _scalar(folder)
    text = config_text
    for span in sorted(spans, key=lambda s: s.start, reverse=True):
        text = text[: span.start] + replacement + text[span.end :]
    if _folders(text) != [folder] * len(_processes(text)):  # the edit must read back as intended
        return _rewritten(config_text, folder)
    return text


def _processes(config_text: str) -> list[Any]:
    document = _load(config_text)
    return list(document["config"]["process"])


def _folders(config_text: str) -> list[Any]:
    folders = []
    for process in _processes(config_text):
        datasets = process.get("datasets") if isinstance(process, dict) else None
        first = datasets[0] if isinstance(datasets, list) and datasets else None
        folders.append(first.get("folder_path") if isinstance(first, dict) else None)
    return folders


def _folder_value_spans(config_text: str) -> list[_Span] | None:
    """Where each process's ``datasets[0].folder_path`` value is written (character offsets), or None when a
    process has none to edit in place (or the value is a block scalar, whose end is hard to place)."""
    try:
        root = yaml.compose(config_text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    process = _child(_child(root, "config"), "process")
    if not isinstance(process, yaml.SequenceNode) or not process.value:
        return None
    spans: dict[int, _Span] = {}
    for entry in process.value:
        datasets = _child(entry, "datasets")
        if not isinstance(datasets, yaml.SequenceNode) or not datasets.value:
            return None
        value = _child(datasets.value[0], "folder_path")
        if not isinstance(value, yaml.ScalarNode) or value.style in ("|", ">"):
            return None
        spans[value.start_mark.index] = _Span(value.start_mark.index, value.end_mark.index)
    return list(spans.values())


def _child(node: Any, key: str) -> Any:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def _rewritten(config_text: str, folder: str) -> str:
    document = _load(config_text)
    for process in document["config"]["process"]:
        datasets = process.get("datasets")
        if not isinstance(datasets, list) or not datasets:
            process["datasets"] = datasets = [{}]
        if not isinstance(datasets[0], dict):
            datasets[0] = {}
        datasets[0]["folder_path"] = folder
    return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False))
