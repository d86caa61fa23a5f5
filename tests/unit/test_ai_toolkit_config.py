"""The emulator's reading of AI Toolkit configs: plans, every problem at once with its place, bounded YAML,
and the checkpoint and sample file names a run produces."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from runcomfy.emulator.ai_toolkit import (
    MAX_CONFIG_BYTES,
    ConfigProblem,
    TrainingPlan,
    checkpoint_names,
    parse_config,
    sample_names,
    sample_steps,
)

BASE: dict[str, Any] = {
    "job": "extension",
    "config": {
        "name": "my_lora",
        "process": [
            {
                "type": "sd_trainer",
                "training_folder": "/app/ai-toolkit/output",
                "device": "cuda:0",
                "trigger_word": "ohwx",
                "network": {"type": "lora", "linear": 16, "linear_alpha": 16},
                "save": {"dtype": "float16", "save_every": 250, "max_step_saves_to_keep": 4},
                "datasets": [
                    {"folder_path": "/app/ai-toolkit/datasets/my-dataset", "caption_ext": "txt"},
                    {"folder_path": "/app/ai-toolkit/datasets/ds_0123/"},
                ],
                "train": {"batch_size": 1, "steps": 1000, "optimizer": "adamw8bit", "lr": 0.0001},
                "model": {"name_or_path": "black-forest-labs/FLUX.1-dev", "is_flux": True},
                "sample": {
                    "sample_every": 300,
                    "width": 768,
                    "height": 512,
                    "seed": 7,
                    "prompts": ["ohwx, a portrait in soft light", "ohwx on a beach"],
                },
            }
        ],
    },
    "meta": {"name": "[name]", "version": "1.0"},
}
PROCESS = ["body", "config_file", "config", "process", 0]
MISSING = object()


def config_text(**changes: Any) -> str:
    """BASE as YAML, with ``changes`` applied: keys are ``/``-separated paths under the first process
    (``config/...`` for paths under ``config``); a value of MISSING deletes the key."""
    document = copy.deepcopy(BASE)
    for path, value in changes.items():
        parts = path.split("/")
        node: Any = document["config"] if parts[0] == "config" else document["config"]["process"][0]
        parts = parts[1:] if parts[0] == "config" else parts
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last: Any = int(parts[-1]) if isinstance(node, list) else parts[-1]
        if value is MISSING:
            del node[last]
        else:
            node[last] = value
    return yaml.safe_dump(document, sort_keys=False)


def problems_of(text: str) -> list[dict[str, Any]]:
    with pytest.raises(ConfigProblem) as caught:
        parse_config(text)
    problems = caught.value.problems
    assert problems, "a ConfigProblem lists at least one problem"
    for problem in problems:
        assert set(problem) == {"loc", "msg", "type"}
        assert problem["loc"][:2] == ["body", "config_file"]
        assert isinstance(problem["msg"], str) and problem["msg"]
        assert isinstance(problem["type"], str) and problem["type"]
    return problems


def locs(text: str) -> list[list[Any]]:
    return [problem["loc"] for problem in problems_of(text)]


def test_the_documented_config_becomes_its_plan() -> None:
    assert parse_config(config_text()) == TrainingPlan(
        name="my_lora",
        steps=1000,
        save_every=250,
        sample_every=300,
        sample_prompts=("ohwx, a portrait in soft light", "ohwx on a beach"),
        sample_width=768,
        sample_height=512,
        seed=7,
        trigger_word="ohwx",
        base_model="black-forest-labs/FLUX.1-dev",
        dataset_refs=("my-dataset", "ds_0123"),
    )


def test_optional_sections_take_their_defaults() -> None:
    plan = parse_config(
        config_text(sample=MISSING, save=MISSING, trigger_word=MISSING, training_folder=MISSING)
    )
    assert (plan.save_every, plan.sample_every) == (1000, 1000)
    assert plan.sample_prompts == ()
    assert (plan.sample_width, plan.sample_height, plan.seed) == (1024, 1024, 42)
    assert plan.trigger_word is None


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_a_blank_trigger_word_is_none(blank: str | None) -> None:
    assert parse_config(config_text(trigger_word=blank)).trigger_word is None


def test_a_sample_section_without_prompts_or_sizes_defaults_them() -> None:
    plan = parse_config(config_text(sample={"sample_every": 100}))
    assert plan.sample_every == 100
    assert plan.sample_prompts == ()
    assert (plan.sample_width, plan.sample_height, plan.seed) == (1024, 1024, 42)


def test_save_and_sample_every_may_equal_steps_and_steps_the_bounds() -> None:
    assert parse_config(config_text(**{"train/steps": 1, "save/save_every": 1, "sample": None})).steps == 1
    plan = parse_config(config_text(**{"train/steps": 100_000, "save/save_every": 100_000}))
    assert (plan.steps, plan.save_every) == (100_000, 100_000)


@pytest.mark.parametrize(
    ("changes", "loc", "kind"),
    [
        ({"config/name": MISSING}, ["config", "name"], "missing"),
        ({"config/name": "has space"}, ["config", "name"], "string_pattern_mismatch"),
        ({"config/name": "x" * 65}, ["config", "name"], "string_pattern_mismatch"),
        ({"config/name": ".."}, ["config", "name"], "string_pattern_mismatch"),
        ({"config/name": 12}, ["config", "name"], "string_pattern_mismatch"),
        ({"train/steps": MISSING}, [*PROCESS[2:], "train", "steps"], "missing"),
        ({"train": MISSING}, [*PROCESS[2:], "train"], "missing"),
        ({"train": [1]}, [*PROCESS[2:], "train"], "dict_type"),
        ({"train/steps": True}, [*PROCESS[2:], "train", "steps"], "int_type"),
        ({"train/steps": "1000"}, [*PROCESS[2:], "train", "steps"], "int_type"),
        ({"train/steps": 10.0}, [*PROCESS[2:], "train", "steps"], "int_type"),
        ({"train/steps": 0}, [*PROCESS[2:], "train", "steps"], "value_error"),
        ({"train/steps": 100_001}, [*PROCESS[2:], "train", "steps"], "value_error"),
        ({"save/save_every": 0}, [*PROCESS[2:], "save", "save_every"], "value_error"),
        ({"save/save_every": 1001}, [*PROCESS[2:], "save", "save_every"], "value_error"),
        ({"save/save_every": False}, [*PROCESS[2:], "save", "save_every"], "int_type"),
        ({"sample/sample_every": 1001}, [*PROCESS[2:], "sample", "sample_every"], "value_error"),
        ({"sample/sample_every": -1}, [*PROCESS[2:], "sample", "sample_every"], "value_error"),
        ({"sample/prompts": "one prompt"}, [*PROCESS[2:], "sample", "prompts"], "list_type"),
        ({"sample/prompts": ["ok", 3]}, [*PROCESS[2:], "sample", "prompts", 1], "string_type"),
        ({"sample/prompts": ["p"] * 17}, [*PROCESS[2:], "sample", "prompts"], "too_long"),
        ({"sample/prompts": ["x" * 1001]}, [*PROCESS[2:], "sample", "prompts", 0], "string_too_long"),
        ({"sample/width": 63}, [*PROCESS[2:], "sample", "width"], "value_error"),
        ({"sample/height": 2049}, [*PROCESS[2:], "sample", "height"], "value_error"),
        ({"sample/height": "tall"}, [*PROCESS[2:], "sample", "height"], "int_type"),
        ({"sample/seed": 1.5}, [*PROCESS[2:], "sample", "seed"], "int_type"),
        ({"sample": "often"}, [*PROCESS[2:], "sample"], "dict_type"),
        ({"datasets": MISSING}, [*PROCESS[2:], "datasets"], "missing"),
        ({"datasets": []}, [*PROCESS[2:], "datasets"], "list_type"),
        ({"datasets": ["/app/ai-toolkit/datasets/x"]}, [*PROCESS[2:], "datasets", 0], "dict_type"),
        ({"datasets/1/folder_path": MISSING}, [*PROCESS[2:], "datasets", 1, "folder_path"], "missing"),
        ({"datasets/0/folder_path": 5}, [*PROCESS[2:], "datasets", 0, "folder_path"], "string_type"),
        ({"datasets/0/folder_path": "/data/x"}, [*PROCESS[2:], "datasets", 0, "folder_path"], "value_error"),
        (
            {"datasets/0/folder_path": "/app/ai-toolkit/datasets/"},
            [*PROCESS[2:], "datasets", 0, "folder_path"],
            "value_error",
        ),
        (
            {"datasets/0/folder_path": "/app/ai-toolkit/datasets/../output"},
            [*PROCESS[2:], "datasets", 0, "folder_path"],
            "value_error",
        ),
        (
            {"datasets/0/folder_path": "/app/ai-toolkit/datasets/.."},
            [*PROCESS[2:], "datasets", 0, "folder_path"],
            "value_error",
        ),
        (
            {"datasets/0/folder_path": "/app/ai-toolkit/datasets-other/x"},
            [*PROCESS[2:], "datasets", 0, "folder_path"],
            "value_error",
        ),
        ({"training_folder": "/tmp/out"}, [*PROCESS[2:], "training_folder"], "value_error"),
        ({"training_folder": 3}, [*PROCESS[2:], "training_folder"], "value_error"),
        ({"model": MISSING}, [*PROCESS[2:], "model"], "missing"),
        ({"model/name_or_path": MISSING}, [*PROCESS[2:], "model", "name_or_path"], "missing"),
        ({"model/name_or_path": ""}, [*PROCESS[2:], "model", "name_or_path"], "string_too_short"),
        ({"model/name_or_path": ["a"]}, [*PROCESS[2:], "model", "name_or_path"], "string_type"),
        ({"trigger_word": ["ohwx"]}, [*PROCESS[2:], "trigger_word"], "string_type"),
    ],
)
def test_each_problem_is_reported_at_its_place(changes: dict[str, Any], loc: list[Any], kind: str) -> None:
    problems = problems_of(config_text(**changes))
    assert [(p["loc"], p["type"]) for p in problems] == [(["body", "config_file", *loc], kind)]


def test_every_problem_is_reported_at_once() -> None:
    found = locs(
        config_text(
            **{
                "config/name": "bad name!",
                "train/steps": 0,
                "sample/width": 10,
                "datasets/0/folder_path": "/etc",
                "model/name_or_path": MISSING,
                "training_folder": "/x",
            }
        )
    )
    assert sorted(map(str, found)) == sorted(
        map(
            str,
            [
                ["body", "config_file", "config", "name"],
                [*PROCESS, "train", "steps"],
                [*PROCESS, "sample", "width"],
                [*PROCESS, "datasets", 0, "folder_path"],
                [*PROCESS, "model", "name_or_path"],
                [*PROCESS, "training_folder"],
            ],
        )
    )


def test_save_every_is_bounded_by_this_configs_steps() -> None:
    assert locs(config_text(**{"train/steps": 100, "save/save_every": 250, "sample/sample_every": 50})) == [
        [*PROCESS, "save", "save_every"]
    ]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("config: [unclosed", "yaml_error"),
        ("a: 1\n---\nb: 2\n", "yaml_error"),
        ("when: 2001-13-45\n", "yaml_error"),  # PyYAML's constructor raises ValueError, not YAMLError
        ("- a\n- b\n", "dict_type"),
        ("just text", "dict_type"),
        ("", "dict_type"),
    ],
)
def test_text_that_is_not_a_yaml_mapping_is_one_problem(text: str, kind: str) -> None:
    assert [(p["loc"], p["type"]) for p in problems_of(text)] == [(["body", "config_file"], kind)]


@pytest.mark.parametrize(
    ("text", "loc", "kind"),
    [
        ("job: extension\n", ["config"], "missing"),
        ("config: 3\n", ["config"], "dict_type"),
        ("config: {name: a}\n", ["config", "process"], "missing"),
        ("config: {name: a, process: []}\n", ["config", "process"], "list_type"),
        ("config: {name: a, process: {type: x}}\n", ["config", "process"], "list_type"),
        ("config: {name: a, process: [3]}\n", ["config", "process", 0], "dict_type"),
    ],
)
def test_a_config_without_a_process_stops_there(text: str, loc: list[Any], kind: str) -> None:
    assert [(p["loc"], p["type"]) for p in problems_of(text)] == [(["body", "config_file", *loc], kind)]


def test_more_than_a_mebibyte_is_refused_before_parsing() -> None:
    text = config_text() + "#" * MAX_CONFIG_BYTES
    problems = problems_of(text)
    assert [p["type"] for p in problems] == ["too_long"]
    assert str(MAX_CONFIG_BYTES) in problems[0]["msg"]
    at_limit = config_text()
    assert parse_config(at_limit + "#" * (MAX_CONFIG_BYTES - len(at_limit.encode()) - 1) + "\n").steps == 1000


def test_yaml_aliases_are_refused_so_an_alias_bomb_costs_nothing() -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for index in range(1, 12):
        prev, name = chr(ord("a") + index - 1), chr(ord("a") + index)
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    problems = problems_of("\n".join(lines) + "\n")
    assert [p["type"] for p in problems] == ["yaml_error"]
    assert "alias" in problems[0]["msg"]
    assert [p["type"] for p in problems_of(config_text() + "extra: &anchor 1\nagain: *anchor\n")] == [
        "yaml_error"
    ]


def test_deep_nesting_is_refused_without_a_recursion_error() -> None:
    for text in ["[" * 50_000 + "]" * 50_000, "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 200))]:
        problems = problems_of(text)
        assert [p["type"] for p in problems] == ["yaml_error"]


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"trigger_word": "\udc80"}, [*PROCESS, "trigger_word"]),
        ({"model/name_or_path": "flux\ud800"}, [*PROCESS, "model", "name_or_path"]),
        ({"sample/prompts": ["ok", "\udfff"]}, [*PROCESS, "sample", "prompts", 1]),
        (
            {"datasets/0/folder_path": "/app/ai-toolkit/datasets/\udc80"},
            [*PROCESS, "datasets", 0, "folder_path"],
        ),
    ],
)
def test_a_lone_surrogate_from_a_yaml_escape_is_refused(changes: dict[str, Any], loc: list[Any]) -> None:
    text = config_text(**changes)
    assert "\\u" in text or "\\U" in text, "the YAML carries the surrogate as an escape"
    assert locs(text) == [loc]


def test_a_yaml_message_quoting_a_surrogate_stays_valid_unicode() -> None:
    problems = problems_of('config: "\udc80 [unclosed')
    problems[0]["msg"].encode("utf-8")


def test_the_problem_text_names_places() -> None:
    with pytest.raises(ConfigProblem) as caught:
        parse_config(config_text(**{"train/steps": 0}))
    assert "train.steps" in str(caught.value)


def plan(steps: int, save_every: int, sample_every: int, prompts: tuple[str, ...] = ("a",)) -> TrainingPlan:
    return TrainingPlan(
        name="run",
        steps=steps,
        save_every=save_every,
        sample_every=sample_every,
        sample_prompts=prompts,
        sample_width=1024,
        sample_height=1024,
        seed=42,
        trigger_word=None,
        base_model="m",
        dataset_refs=("d",),
    )


def test_checkpoints_are_every_save_step_then_the_last_under_the_bare_name() -> None:
    assert checkpoint_names(plan(1000, 250, 1000)) == [
        (250, "run_000000250.safetensors"),
        (500, "run_000000500.safetensors"),
        (750, "run_000000750.safetensors"),
        (1000, "run.safetensors"),
    ]
    assert checkpoint_names(plan(1000, 300, 1000)) == [
        (300, "run_000000300.safetensors"),
        (600, "run_000000600.safetensors"),
        (900, "run_000000900.safetensors"),
        (1000, "run.safetensors"),
    ]
    assert checkpoint_names(plan(5, 5, 5)) == [(5, "run.safetensors")]


def test_samples_are_every_sample_step_and_the_last_one_per_prompt() -> None:
    assert sample_steps(plan(1000, 1000, 300)) == [300, 600, 900, 1000]
    assert sample_steps(plan(1000, 1000, 250)) == [250, 500, 750, 1000]
    assert sample_steps(plan(7, 7, 7)) == [7]
    assert sample_names(plan(1000, 1000, 250, ("first", "second")), 250) == [
        ("first", "run__000000250_0.png"),
        ("second", "run__000000250_1.png"),
    ]
    assert sample_names(plan(10, 10, 10, ()), 10) == []


@given(
    steps=st.integers(1, 5000),
    save_fraction=st.floats(0, 1),
    sample_fraction=st.floats(0, 1),
)
def test_names_follow_the_schedule_for_any_steps(
    steps: int, save_fraction: float, sample_fraction: float
) -> None:
    save_every = max(1, round(steps * save_fraction))
    sample_every = max(1, round(steps * sample_fraction))
    p = plan(steps, save_every, sample_every)
    checkpoints = checkpoint_names(p)
    saved = [step for step, _ in checkpoints]
    assert saved == sorted(set(saved))
    assert checkpoints[-1] == (steps, "run.safetensors")
    assert saved[:-1] == list(range(save_every, steps, save_every))
    assert all(name == f"run_{step:09d}.safetensors" for step, name in checkpoints[:-1])
    assert len({name for _, name in checkpoints}) == len(checkpoints)
    sampled = sample_steps(p)
    assert sampled == sorted(set(sampled)) and sampled[-1] == steps
    assert all(step % sample_every == 0 for step in sampled[:-1])
    assert set(range(sample_every, steps + 1, sample_every)) <= set(sampled)


@given(
    name=st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True).filter(lambda n: set(n) != {"."}),
    steps=st.integers(1, 100_000),
    data=st.data(),
)
def test_any_valid_name_and_schedule_parse_back(name: str, steps: int, data: st.DataObject) -> None:
    save_every = data.draw(st.integers(1, steps))
    plan_ = parse_config(
        config_text(
            **{
                "config/name": name,
                "train/steps": steps,
                "save/save_every": save_every,
                "sample/sample_every": steps,
            }
        )
    )
    assert (plan_.name, plan_.steps, plan_.save_every) == (name, steps, save_every)


@given(st.text(max_size=300))
def test_any_text_is_a_plan_or_a_config_problem(text: str) -> None:
    try:
        parse_config(text)
    except ConfigProblem as problem:
        assert problem.problems


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
PLACES = [
    "config",
    "config/name",
    "config/process",
    "config/process/0",
    "train",
    "train/steps",
    "save",
    "save/save_every",
    "sample",
    "sample/prompts",
    "sample/width",
    "sample/seed",
    "datasets",
    "datasets/0",
    "datasets/0/folder_path",
    "model",
    "model/name_or_path",
    "trigger_word",
    "training_folder",
]


@given(place=st.sampled_from(PLACES), value=JSONISH)
def test_any_value_anywhere_is_a_plan_or_a_config_problem(place: str, value: Any) -> None:
    try:
        text = config_text(**{place: value})
    except (KeyError, IndexError, TypeError):  # an earlier place replaced by a scalar: nothing to descend
        return
    try:
        result = parse_config(text)
    except ConfigProblem as problem:
        assert problem.problems
        assert all(p["loc"][:2] == ["body", "config_file"] for p in problem.problems)
    else:
        assert isinstance(result, TrainingPlan)
        assert 1 <= result.save_every <= result.steps and 1 <= result.sample_every <= result.steps
