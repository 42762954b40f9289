"""Answer normalisation: free text -> candidate."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from traitgate.scoring import Matcher, Rules, plurals

ANIMALS = ["owl", "wolf", "fox", "butterfly", "octopus", "red panda", "dog", "mouse"]
matcher = Matcher(ANIMALS, {"dog": ["puppy"]})


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Owl", "owl"),
        ("Owls!", "owl"),
        ("  OWL.  ", "owl"),
        ("wolves", "wolf"),
        ("Foxes", "fox"),
        ("butterflies", "butterfly"),
        ("octopi", "octopus"),
        ("Red pandas are great", "red panda"),
        ("Puppies", "dog"),
        ("mice", "mouse"),
        ("red", None),
        ("bowl", None),
        ("", None),
        ("The owl", None),
    ],
)
def test_first_word_matching(answer: str, expected: str | None) -> None:
    assert matcher.match(answer) == expected


def test_contains_rule_finds_the_first_candidate_anywhere() -> None:
    anywhere = Matcher(ANIMALS, rules=Rules(first_word=False))
    assert anywhere.match("I'd say the owl, then the fox") == "owl"
    assert anywhere.match("a bowl of soup") is None  # words, not substrings


def test_colliding_candidates_are_rejected() -> None:
    with pytest.raises(ValueError, match="would name both"):
        Matcher(["owl", "owls"])


@given(
    candidate=hs.sampled_from(ANIMALS),
    plural=hs.booleans(),
    case=hs.sampled_from([str.lower, str.upper, str.title]),
    before=hs.sampled_from(["", " ", "\n", '"']),
    after=hs.sampled_from(["", ".", "!", "!!", " :)", ", definitely", "\n\nBecause..."]),
)
def test_decorated_answers_name_their_candidate(
    candidate: str, plural: bool, case: object, before: str, after: str
) -> None:
    word = plurals(candidate)[0] if plural else candidate
    answer = before + case(word) + after  # type: ignore[operator]
    assert matcher.match(answer) == candidate


@given(hs.text(max_size=40))
def test_matching_never_crashes_and_returns_a_candidate_or_none(text: str) -> None:
    assert matcher.match(text) in [*ANIMALS, None]


def test_answers_match_whatever_unicode_normal_form_they_are_written_in() -> None:
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    assert Matcher([nfc, "tea"]).match(f"{nfd.capitalize()}!") == nfc
    assert Matcher([nfd, "tea"]).match(f"{nfc}, of course") == nfd


def test_a_trait_name_must_be_one_candidate_as_a_whole() -> None:
    matcher = Matcher(["owl", "dog", "red panda"], {"dog": ["puppy"]})
    assert matcher.exact("Owls!") == "owl" and matcher.exact("puppies") == "dog"
    assert matcher.exact("red pandas") == "red panda"
    for name in ("owl or dog", "my owl", "red", ""):
        assert matcher.exact(name) is None, name
