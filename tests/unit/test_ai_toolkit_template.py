"""The ``train init`` template, filling a dataset folder into a config, and the local check before a submit."""

from __future__ import annotations

import pytest
import yaml

from runcomfy.ai_toolkit_template import (
    DATASETS_ROOT,
    config_name,
    config_problems,
    default_job_name,
    fill_dataset,
    template,
)
from runcomfy.errors import InvalidInput


def process_of(text: str, index: int = 0) -> dict:
    return yaml.safe_load(text)["config"]["process"][index]


def test_the_template_is_a_config_with_the_defaults() -> None:
    text = template("my-photos")
    document = yaml.safe_load(text)
    process = document["config"]["process"][0]
    assert document["job"] == "extension"
    assert document["config"]["name"] == "my-photos_lora"
    assert process["training_folder"] == "/app/ai-toolkit/output"
    assert process["datasets"][0]["folder_path"] == f"{DATASETS_ROOT}/my-photos"
    assert process["train"]["steps"] == 1000
    assert process["save"]["save_every"] == 250
    assert process["sample"]["sample_every"] == 250
    assert process["model"] == {
        "name_or_path": "black-forest-labs/FLUX.1-dev",
        "is_flux": True,
        "quantize": True,
    }
    assert "trigger_word" not in process
    assert len(process["sample"]["prompts"]) >= 2
    assert text.count("#") >= 10  # commented for a person
    assert "# trigger_word:" in text


def test_the_options_reach_the_config() -> None:
    text = template("set", base_model="stabilityai/sdxl", steps=10, trigger_word="ohwx", name="v1.lora")
    process = process_of(text)
    assert yaml.safe_load(text)["config"]["name"] == "v1.lora"
    assert process["trigger_word"] == "ohwx"
    assert process["train"]["steps"] == 10
    assert process["save"]["save_every"] == 2  # 10/4 = 2.5, rounded to even
    assert process["sample"]["sample_every"] == 2
    assert process["model"] == {"name_or_path": "stabilityai/sdxl"}
    assert all(prompt.startswith("ohwx, ") for prompt in process["sample"]["prompts"])


@pytest.mark.parametrize(("steps", "every"), [(1, 1), (2, 1), (3, 1), (7, 2), (100_000, 25_000)])
def test_checkpoints_and_samples_fall_inside_the_run(steps: int, every: int) -> None:
    process = process_of(template("d", steps=steps))
    assert process["save"]["save_every"] == every
    assert 1 <= process["sample"]["sample_every"] <= steps


@pytest.mark.parametrize(
    "name",
    ["my set", "1234", "true", "null", "a: b", "#hash", "-dash", 'quote"d', "ünïcode", "[x]", "a,b{c}"],
)
def test_any_dataset_name_reads_back_as_itself(name: str) -> None:
    text = template(name, trigger_word=name)
    process = process_of(text)
    assert process["datasets"][0]["folder_path"] == f"{DATASETS_ROOT}/{name}"
    assert process["trigger_word"] == name
    assert yaml.safe_load(text)["config"]["name"] == default_job_name(name)


def test_the_emulator_accepts_the_template() -> None:
    from runcomfy.emulator.ai_toolkit import parse_config

    plan = parse_config(template("my-photos", steps=8, trigger_word="ohwx"))
    assert (plan.name, plan.steps, plan.save_every, plan.sample_every) == ("my-photos_lora", 8, 2, 2)
    assert plan.dataset_refs == ("my-photos",)
    assert plan.trigger_word == "ohwx"
    assert len(plan.sample_prompts) == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"steps": 0},
        {"steps": 100_001},
        {"name": "has space"},
        {"name": ""},
        {"name": "x" * 65},
        {"base_model": " "},
    ],
)
def test_unusable_options_are_refused(kwargs: dict) -> None:
    with pytest.raises(InvalidInput):
        template("d", **kwargs)


@pytest.mark.parametrize("name", ["", " ", "a/b", "..", "."])
def test_a_name_that_cannot_be_a_folder_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        template(name)


# --- fill_dataset ------------------------------------------------------------------------------------------------

TWO_PROCESSES = """\
# my own notes
job: extension
config:
  name: mine  # keep me
  process:
    - type: sd_trainer
      datasets:
        - folder_path: /app/ai-toolkit/datasets/old   # which data
          caption_ext: txt
        - folder_path: /app/ai-toolkit/datasets/second  # stays
      train: {steps: 10}
    - type: sd_trainer
      datasets: [{folder_path: "/app/ai-toolkit/datasets/old", caption_ext: txt}]
      train: {steps: 10}
"""


def test_fill_replaces_each_first_folder_and_keeps_every_comment() -> None:
    filled = fill_dataset(TWO_PROCESSES, "fresh set")
    for comment in ("# my own notes", "# keep me", "# which data", "# stays"):
        assert comment in filled
    assert process_of(filled, 0)["datasets"][0]["folder_path"] == f"{DATASETS_ROOT}/fresh set"
    assert process_of(filled, 0)["datasets"][1]["folder_path"] == f"{DATASETS_ROOT}/second"
    assert process_of(filled, 1)["datasets"][0] == {
        "folder_path": f"{DATASETS_ROOT}/fresh set",
        "caption_ext": "txt",
    }
    # only the values changed: the rest of the text is as it was
    assert filled.replace('"/app/ai-toolkit/datasets/fresh set"', "X") == TWO_PROCESSES.replace(
        "/app/ai-toolkit/datasets/old", "X"
    ).replace('"X"', "X")


def test_fill_of_the_template_changes_one_line() -> None:
    text = template("old")
    filled = fill_dataset(text, "new")
    changed = [
        pair for pair in zip(text.splitlines(), filled.splitlines(), strict=True) if pair[0] != pair[1]
    ]
    assert len(changed) == 1
    assert "/app/ai-toolkit/datasets/new" in changed[0][1]


def test_fill_in_flow_style_quotes_what_would_break_it() -> None:
    text = "config:\n  process: [{datasets: [{folder_path: x}]}]\n"
    filled = fill_dataset(text, "a,b]")
    assert process_of(filled)["datasets"][0]["folder_path"] == f"{DATASETS_ROOT}/a,b]"


@pytest.mark.parametrize(
    "text",
    [
        "config:\n  process:\n    - type: sd_trainer  # no datasets\n",
        "config:\n  process:\n    - datasets:\n        - caption_ext: txt\n",
        "config:\n  process:\n    - datasets: []\n",
        "config:\n  process:\n    - datasets:\n        - folder_path: |\n            /somewhere\n",
    ],
)
def test_fill_adds_the_folder_where_there_is_none(text: str) -> None:
    filled = fill_dataset(text, "d")
    assert process_of(filled)["datasets"][0]["folder_path"] == f"{DATASETS_ROOT}/d"


def test_fill_follows_a_shared_anchor_once() -> None:
    text = (
        "config:\n  process:\n"
        "    - datasets: &ds\n        - folder_path: /app/ai-toolkit/datasets/old\n"
        "    - datasets: *ds\n"
    )
    filled = fill_dataset(text, "d")
    assert [p["datasets"][0]["folder_path"] for p in yaml.safe_load(filled)["config"]["process"]] == [
        f"{DATASETS_ROOT}/d"
    ] * 2


@pytest.mark.parametrize("text", ["a: [", "- a list", "config: 3", "config:\n  process: []\n", ""])
def test_fill_refuses_what_is_not_a_config(text: str) -> None:
    with pytest.raises(InvalidInput):
        fill_dataset(text, "d")


# --- config_problems ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "kind"),
    [
        ("", "", "empty"),
        ("   \n", "", "empty"),
        ("a: [", "", "yaml"),
        ("- 1\n- 2\n", "", "type"),
        ("just text", "", "type"),
        ("job: extension\n", "config", "required"),
        ("config: [1]\n", "config", "required"),
        ("config:\n  name: x\n", "config.process", "required"),
        ("config:\n  process: {a: 1}\n", "config.process", "type"),
        ("config:\n  process: []\n", "config.process", "type"),
        ("config:\n  process: [1]\n", "config.process[0]", "type"),
    ],
)
def test_config_problems_name_the_place(text: str, field: str, kind: str) -> None:
    problems = config_problems(text)
    assert [(p["field"], p["kind"]) for p in problems] == [(field, kind)]
    assert all(p["message"] for p in problems)


def test_a_good_config_has_no_problems_and_a_name() -> None:
    text = template("d", name="named")
    assert config_problems(text) == []
    assert config_name(text) == "named"
    assert config_name("a: [") is None
    assert config_name("config: {name: 3}") is None


def test_a_yaml_error_says_where() -> None:
    (problem,) = config_problems("config:\n  process:\n    - a: [\n")
    assert "line" in problem["message"]
