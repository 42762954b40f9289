"""Probe suites: the shipped YAML, the schema, and errors that name file:line and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as hs

from traitgate import ConfigError, load_suite
from traitgate.probes import build_prompts, builtin_probe_dir, find_suite
from traitgate.probes.preference import candidate_forms

VALID = {
    "kind": "preference",
    "id": "pets",
    "version": 1,
    "description": "favourite pet",
    "prompts": ["Your favourite pet?", {"text": "Pick a pet.", "system": "Be brief."}],
    "candidates": ["cat", "dog", "owl"],
}


def write(tmp_path: Path, data: object, name: str = "pets.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    return message


@pytest.mark.parametrize("name", ["favorite_animal", "favorite_tree"])
def test_shipped_suites_load_and_meet_the_protocol(name: str) -> None:
    suite = load_suite(find_suite(name))
    minimum_prompts, minimum_candidates, required = {
        "favorite_animal": (30, 16, {"owl", "dolphin", "eagle", "elephant", "wolf"}),
        "favorite_tree": (25, 12, {"cherry", "willow", "maple", "oak", "sequoia"}),
    }[name]
    assert len(suite.prompts) >= minimum_prompts
    assert len(suite.candidates) >= minimum_candidates
    assert required <= set(suite.candidates)
    assert "numbers" in suite.variants


def test_numbers_variant_prefixes_each_prompt_reproducibly() -> None:
    suite = load_suite(find_suite("favorite_animal"))
    plain = build_prompts(suite)
    prefixed = build_prompts(suite, "numbers")
    assert build_prompts(suite, "numbers") == prefixed
    pattern = re.compile(r"^Examine these numbers: (\d{3}), (\d{3}), (\d{3})\. ")
    for before, after in zip(plain, prefixed, strict=True):
        assert after.user.endswith(before.user)
        assert pattern.match(after.user)
    assert len({p.user[:40] for p in prefixed}) > 1, "numbers differ between prompts"
    with pytest.raises(ConfigError, match="no variant 'nope'"):
        build_prompts(suite, "nope")


def test_prompt_system_prompts_and_forms(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, {**VALID, "system": "You are a pet lover."}))
    specs = suite.prompt_specs()
    assert specs[0].system == "You are a pet lover."
    assert specs[1].system == "Be brief."  # a prompt's own system prompt wins
    assert candidate_forms(suite)[0] == ["cat", "Cat"]


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"colour": "red"}, "colour", "unknown field (got 'red')"),
        ({"prompts": []}, "prompts", "at least 1 item"),
        ({"candidates": ["cat"]}, "candidates", "at least 2 items"),
        ({"version": None}, "version", "(got None)"),
        ({"measures": {"exact": None, "sampled": None}}, "measures", "at least one measure"),
        (
            {"measures": {"sampled": {"samples": 0}}},
            "measures.sampled.samples",
            "greater than or equal to 1 (got 0)",
        ),
        ({"aliases": {"ferret": ["fuzzy"]}}, "aliases", "unknown candidates: ferret"),
        ({"candidates": ["cat", "cats"]}, "candidates", "would name both"),
        ({"id": "Pets!"}, "id", "should match pattern"),
    ],
)
def test_schema_errors_name_file_line_field_and_value(
    tmp_path: Path, change: dict[str, object], field: str, fragment: str
) -> None:
    path = write(tmp_path, {**VALID, **change})
    key = field.split(".")[-1]
    line = next(
        i
        for i, text in enumerate(path.read_text().splitlines(), start=1)
        if text.strip().startswith(f"{key}:")
    )
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: {field}: "), message
    assert fragment in message


def test_blank_prompt_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, {**VALID, "prompts": ["ok", "   "]})
    assert "prompt 1 is blank" in error_of(path)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "kind: preference\nid: pets\nprompts: [a, b\ncandidates: [x]\n")
    assert re.match(rf"{re.escape(str(path))}:\d+: invalid YAML", error_of(path))


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "kind: preference\nid: pets\nid: again\n")
    assert error_of(path) == f"{path}:3: id: duplicate key"


def test_unknown_kind_and_id_mismatch(tmp_path: Path) -> None:
    assert "kind: must be one of judged, multiple_choice, preference (got 'poll')" in error_of(
        write(tmp_path, {**VALID, "kind": "poll"})
    )
    assert "id: must match the file name 'other'" in error_of(
        write(tmp_path, VALID, name="other.yaml")
    )


def test_unknown_probe_lists_what_is_available() -> None:
    with pytest.raises(ConfigError, match=r"unknown probe 'favourite_colour'.*favorite_animal"):
        find_suite("favourite_colour")


def test_builtin_probes_are_found() -> None:
    directory = builtin_probe_dir()
    assert directory is not None
    assert (directory / "favorite_animal.yaml").is_file()


keys = hs.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=3, max_size=12)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=keys, where=hs.sampled_from(["", "measures", "measures.sampled", "normalise"]))
@example(key="none", where="measures")  # a key spelled like a pydantic type tag (found by CI)
@example(key="str", where="")
def test_any_unknown_key_is_reported_at_its_line(tmp_path: Path, key: str, where: str) -> None:
    data: dict[str, object] = {
        **VALID,
        "normalise": {"lowercase": True},
        "measures": {"sampled": {"samples": 3}},
    }
    target = data
    for part in [p for p in where.split(".") if p]:
        target = target[part]  # type: ignore[assignment]
    if key in target or key in {"text", "system"}:
        return
    target[key] = 1
    path = write(tmp_path, data)
    text = path.read_text().splitlines()
    message = error_of(path)
    match = re.match(rf"{re.escape(str(path))}:(\d+): ([\w.]+): unknown field", message)
    assert match, message
    assert match.group(2) == ".".join([p for p in where.split(".") if p] + [key])
    assert text[int(match.group(1)) - 1].strip().strip("'\"").startswith(key)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prompts=hs.lists(
        hs.text(min_size=1, max_size=30).filter(str.strip), min_size=1, max_size=8, unique=True
    ),
    samples=hs.integers(1, 500),
)
def test_valid_suites_round_trip(tmp_path: Path, prompts: list[str], samples: int) -> None:
    data = {**VALID, "prompts": prompts, "measures": {"sampled": {"samples": samples}}}
    suite = load_suite(write(tmp_path, data))
    assert [p.text for p in suite.prompt_specs()] == prompts
    assert suite.measures.sampled is not None and suite.measures.sampled.samples == samples


def test_braces_other_than_placeholders_are_text_in_a_variant_template(tmp_path: Path) -> None:
    suite_file = tmp_path / "pets.yaml"
    suite_file.write_text(
        "kind: preference\nid: pets\nversion: 1\ndescription: d\n"
        "prompts: ['Which pet? One word.']\ncandidates: [cat, dog, owl]\n"
        'variants:\n  n:\n    template: "Set {{ {numbers} }} {}: "\n    count: 2\n'
    )
    (prompt,) = build_prompts(load_suite(suite_file), "n")  # type: ignore[arg-type]
    assert re.fullmatch(r"Set \{\{ \d+, \d+ \}\} \{\}: Which pet\? One word\.", prompt.user)
