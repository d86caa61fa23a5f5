"""The emulator's reading of an AI Toolkit training config: what a Trainer API job will do, or why it cannot.

A job is submitted as YAML text in the shape ``train init`` writes. The service answers a bad config with a
422 whose ``detail`` names each problem's place, so :func:`parse_config` collects every problem it can find in
one pass (a caller fixing a config should not discover them one submission at a time) and returns a
:class:`TrainingPlan`: the few facts the emulator's stand-in trainer needs (name, steps, when to save and
sample, which datasets). The file names a run produces are derived here too, so the job routes and the
artifact listing agree on them. Pure: no state, no I/O; that the named datasets exist and are READY is the
caller's check.

The YAML is untrusted: its size is capped, aliases are refused (an alias "billion laughs" document expands
exponentially) and nesting depth is capped (PyYAML composes recursively).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

MAX_CONFIG_BYTES = 1024 * 1024
MAX_NESTING = 64
MAX_STEPS = 100_000
MAX_PROMPTS = 16
MAX_PROMPT_CHARS = 1000
MIN_SIDE, MAX_SIDE = 64, 2048
DEFAULT_SIDE = 1024
DEFAULT_SEED = 42
MAX_SEED = 2**63 - 1
MAX_TRIGGER_CHARS = 200
MAX_MODEL_CHARS = 500
DATASETS_ROOT = "/app/ai-toolkit/datasets/"
TRAINING_FOLDER = "/app/ai-toolkit/output"
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_DATASET_REF = re.compile(r"[^/\x00]{1,200}")

Loc = list[str | int]
_CONFIG_LOC: Loc = ["body", "config_file"]


@dataclass(frozen=True)
class TrainingPlan:
    """What a valid config asks for. ``dataset_refs`` are the ``<X>`` of each ``/app/ai-toolkit/datasets/<X>``
    folder (a dataset's name or id), in config order."""

    name: str
    steps: int
    save_every: int
    sample_every: int
    sample_prompts: tuple[str, ...]
    sample_width: int
    sample_height: int
    seed: int
    trigger_word: str | None
    base_model: str
    dataset_refs: tuple[str, ...]


class ConfigProblem(Exception):
    """The config cannot be trained; ``problems`` is a 422 ``detail`` list (``loc``, ``msg``, ``type``)."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems))
        self.problems = problems


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without aliases and with a nesting cap."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "YAML aliases are not allowed", mark)
        if self._depth >= MAX_NESTING:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_NESTING} levels", mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _problem(loc: Loc, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}


def _load(text: str) -> Any:
    if not isinstance(text, str):
        raise ConfigProblem([_problem(_CONFIG_LOC, "config_file must be a string of YAML", "string_type")])
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_CONFIG_BYTES:
        raise ConfigProblem(
            [_problem(_CONFIG_LOC, f"config_file is {size} bytes; at most {MAX_CONFIG_BYTES}", "too_long")]
        )
    try:
        loader = _BoundedLoader(text)  # the reader checks the characters here already
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        message = f"config_file is not valid YAML: {_one_line(str(exc))}"
    except RecursionError:
        message = "config_file is not valid YAML: nested too deeply"
    except Exception as exc:  # the constructors raise plain errors too (a 13th month, a 5000-digit int)
        message = f"config_file is not valid YAML: {_one_line(str(exc)) or type(exc).__name__}"
    raise ConfigProblem([_problem(_CONFIG_LOC, message, "yaml_error")])


def _is_unicode(text: str) -> bool:
    """Whether ``text`` is valid Unicode: YAML's ``"\\udc80"`` escape yields a lone surrogate, which no JSON
    answer, file name or drawn label can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _one_line(text: str) -> str:
    """A parser's message for a ``msg``: one line, bounded, valid Unicode (it may quote the input)."""
    flat = " ".join(text.encode("utf-8", "replace").decode("utf-8").split())
    return flat if len(flat) <= 300 else flat[:297] + "..."


class _Checker:
    """Reads fields out of mappings, noting a problem (and answering a default) for each bad one."""

    def __init__(self) -> None:
        self.problems: list[dict[str, Any]] = []

    def note(self, loc: Loc, msg: str, kind: str) -> None:
        self.problems.append(_problem(loc, msg, kind))

    def mapping(self, parent: dict[Any, Any], key: str, loc: Loc, *, required: bool) -> dict[Any, Any] | None:
        if key not in parent or (parent[key] is None and not required):
            if required:
                self.note([*loc, key], "Field required", "missing")
            return None
        value = parent[key]
        if not isinstance(value, dict):
            self.note([*loc, key], "Input should be a mapping", "dict_type")
            return None
        return value

    def integer(
        self, parent: dict[Any, Any] | None, key: str, loc: Loc, low: int, high: int, default: int | None
    ) -> int | None:
        """An int in ``low..high``; ``default`` when absent (None: required)."""
        if parent is None or key not in parent or parent[key] is None:
            if default is None:
                self.note([*loc, key], "Field required", "missing")
            return default
        value = parent[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.note([*loc, key], "Input should be a valid integer", "int_type")
            return None
        if not low <= value <= high:
            self.note([*loc, key], f"Input should be between {low} and {high}", "value_error")
            return None
        return value

    def string(
        self, parent: dict[Any, Any] | None, key: str, loc: Loc, *, required: bool, max_chars: int
    ) -> str | None:
        if parent is None or key not in parent or parent[key] is None:
            if required:
                self.note([*loc, key], "Field required", "missing")
            return None
        value = parent[key]
        if not isinstance(value, str) or not _is_unicode(value):
            self.note([*loc, key], "Input should be a valid string", "string_type")
            return None
        if not value.strip() and required:
            self.note([*loc, key], "Input should not be empty", "string_too_short")
            return None
        if len(value) > max_chars:
            self.note([*loc, key], f"Input should have at most {max_chars} characters", "string_too_long")
            return None
        return value


def parse_config(text: str) -> TrainingPlan:
    """The plan of a valid AI Toolkit YAML config, or :class:`ConfigProblem` listing every problem found."""
    document = _load(text)
    if not isinstance(document, dict):
        raise ConfigProblem([_problem(_CONFIG_LOC, "the config should be a YAML mapping", "dict_type")])
    check = _Checker()
    loc: Loc = [*_CONFIG_LOC]
    config = check.mapping(document, "config", loc, required=True)
    if config is None:
        raise ConfigProblem(check.problems)
    loc = [*loc, "config"]
    name = _name(check, config, loc)
    process_list = config.get("process")
    if not isinstance(process_list, list) or not process_list:
        kind = "missing" if process_list is None else "list_type"
        check.note([*loc, "process"], "Input should be a non-empty list of processes", kind)
        raise ConfigProblem(check.problems)
    process = process_list[0]
    loc = [*loc, "process", 0]
    if not isinstance(process, dict):
        check.note(loc, "Input should be a mapping", "dict_type")
        raise ConfigProblem(check.problems)

    folder = process.get("training_folder")
    if folder is not None and (not isinstance(folder, str) or folder.rstrip("/") != TRAINING_FOLDER):
        check.note([*loc, "training_folder"], f"training_folder must be {TRAINING_FOLDER}", "value_error")
    trigger_word = check.string(process, "trigger_word", loc, required=False, max_chars=MAX_TRIGGER_CHARS)
    if trigger_word is not None and not trigger_word.strip():
        trigger_word = None  # a blank trigger word is no trigger word

    train = check.mapping(process, "train", loc, required=True)
    steps = check.integer(train, "steps", [*loc, "train"], 1, MAX_STEPS, None) if train is not None else None
    bound = steps if steps is not None else MAX_STEPS
    save = check.mapping(process, "save", loc, required=False)
    save_every = check.integer(save, "save_every", [*loc, "save"], 1, bound, steps or 1)
    sample = check.mapping(process, "sample", loc, required=False)
    sample_loc: Loc = [*loc, "sample"]
    sample_every = check.integer(sample, "sample_every", sample_loc, 1, bound, steps or 1)
    width = check.integer(sample, "width", sample_loc, MIN_SIDE, MAX_SIDE, DEFAULT_SIDE)
    height = check.integer(sample, "height", sample_loc, MIN_SIDE, MAX_SIDE, DEFAULT_SIDE)
    seed = check.integer(sample, "seed", sample_loc, -MAX_SEED - 1, MAX_SEED, DEFAULT_SEED)
    prompts = _prompts(check, sample, sample_loc)

    model = check.mapping(process, "model", loc, required=True)
    base_model = (
        check.string(model, "name_or_path", [*loc, "model"], required=True, max_chars=MAX_MODEL_CHARS)
        if model is not None
        else None
    )
    dataset_refs = _datasets(check, process, loc)

    if check.problems:
        raise ConfigProblem(check.problems)
    assert name is not None and steps is not None and save_every is not None and sample_every is not None
    assert width is not None and height is not None and seed is not None and base_model is not None
    return TrainingPlan(
        name=name,
        steps=steps,
        save_every=save_every,
        sample_every=sample_every,
        sample_prompts=prompts,
        sample_width=width,
        sample_height=height,
        seed=seed,
        trigger_word=trigger_word,
        base_model=base_model,
        dataset_refs=dataset_refs,
    )


def _name(check: _Checker, config: dict[Any, Any], loc: Loc) -> str | None:
    name = config.get("name")
    if name is None:
        check.note([*loc, "name"], "Field required", "missing")
        return None
    if not isinstance(name, str) or not _NAME.fullmatch(name) or set(name) == {"."}:
        check.note(
            [*loc, "name"],
            "name must be 1-64 letters, digits, '_', '.' or '-' (and not only dots)",
            "string_pattern_mismatch",
        )
        return None
    return name


def _prompts(check: _Checker, sample: dict[Any, Any] | None, loc: Loc) -> tuple[str, ...]:
    if sample is None or sample.get("prompts") is None:
        return ()
    prompts = sample["prompts"]
    loc = [*loc, "prompts"]
    if not isinstance(prompts, list):
        check.note(loc, "Input should be a list of strings", "list_type")
        return ()
    if len(prompts) > MAX_PROMPTS:
        check.note(loc, f"at most {MAX_PROMPTS} sample prompts", "too_long")
        return ()
    good = True
    for index, prompt in enumerate(prompts):
        if not isinstance(prompt, str) or not _is_unicode(prompt):
            check.note([*loc, index], "Input should be a valid string", "string_type")
            good = False
        elif len(prompt) > MAX_PROMPT_CHARS:
            check.note([*loc, index], f"at most {MAX_PROMPT_CHARS} characters", "string_too_long")
            good = False
    return tuple(prompts) if good else ()


def _datasets(check: _Checker, process: dict[Any, Any], loc: Loc) -> tuple[str, ...]:
    datasets = process.get("datasets")
    loc = [*loc, "datasets"]
    if not isinstance(datasets, list) or not datasets:
        kind = "missing" if datasets is None else "list_type"
        check.note(loc, "Input should be a non-empty list of datasets", kind)
        return ()
    refs: list[str] = []
    for index, entry in enumerate(datasets):
        if not isinstance(entry, dict):
            check.note([*loc, index], "Input should be a mapping", "dict_type")
            continue
        folder = entry.get("folder_path")
        here: Loc = [*loc, index, "folder_path"]
        if folder is None:
            check.note(here, "Field required", "missing")
        elif not isinstance(folder, str) or not _is_unicode(folder):
            check.note(here, "Input should be a valid string", "string_type")
        else:
            ref = folder[len(DATASETS_ROOT) :].rstrip("/") if folder.startswith(DATASETS_ROOT) else ""
            if not _DATASET_REF.fullmatch(ref) or ref in (".", ".."):
                check.note(here, f"folder_path must be {DATASETS_ROOT}<dataset name or id>", "value_error")
            else:
                refs.append(ref)
    return tuple(refs)


def checkpoint_names(plan: TrainingPlan) -> list[tuple[int, str]]:
    """``(step, file name)`` of every checkpoint a full run saves, in step order: one per ``save_every``
    step before the last, then the last step's under the bare name."""
    names = [
        (step, f"{plan.name}_{step:09d}.safetensors")
        for step in range(plan.save_every, plan.steps, plan.save_every)
    ]
    names.append((plan.steps, f"{plan.name}.safetensors"))
    return names


def sample_steps(plan: TrainingPlan) -> list[int]:
    """The steps at which a full run draws samples: every ``sample_every`` step, and the last."""
    return sorted({*range(plan.sample_every, plan.steps + 1, plan.sample_every), plan.steps})


def sample_names(plan: TrainingPlan, step: int) -> list[tuple[str, str]]:
    """``(prompt, file name)`` of the samples drawn at ``step``, one per prompt."""
    return [
        (prompt, f"{plan.name}__{step:09d}_{index}.png") for index, prompt in enumerate(plan.sample_prompts)
    ]
