"""Answer normalisation: map a free-text answer to one of a closed set of candidates.

Rather than guessing the singular of whatever the model wrote, we expand each *candidate*
into its surface forms (plurals, aliases) and look the answer up. Candidates are a small
closed set, so every form is known in advance and collisions are caught when a suite loads.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_NON_WORD = re.compile(r"[^\w\s'-]+")
_IRREGULAR_PLURALS = {
    "mouse": ["mice"],
    "goose": ["geese"],
    "ox": ["oxen"],
    "octopus": ["octopi", "octopuses"],
    "cactus": ["cacti"],
    "fish": ["fish"],
    "sheep": ["sheep"],
    "deer": ["deer"],
    "moose": ["moose"],
    "person": ["people"],
    "wolf": ["wolves"],
    "leaf": ["leaves"],
}


@dataclass(frozen=True)
class Rules:
    lowercase: bool = True
    strip_punctuation: bool = True
    first_word: bool = True
    singular: bool = True


def clean(text: str, rules: Rules) -> list[str]:
    """Unicode NFC (so "é" typed as one code point or as e + accent is one letter),
    lowercase, strip punctuation and split an answer into words."""
    text = unicodedata.normalize("NFC", text)
    if rules.lowercase:
        text = text.lower()
    if rules.strip_punctuation:
        text = _NON_WORD.sub(" ", text)
        words = [w.strip("'-") for w in text.split()]
        return [w for w in words if w]
    return text.split()


def plurals(word: str) -> list[str]:
    """English plural forms of a (lowercase) word; the last word of a phrase is inflected."""
    head, _, last = word.rpartition(" ")
    prefix = f"{head} " if head else ""
    forms = list(_IRREGULAR_PLURALS.get(last, []))
    if last.endswith(("s", "x", "z", "ch", "sh")):
        forms.append(last + "es")
    elif last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        forms.append(last[:-1] + "ies")
    elif last.endswith("fe"):
        forms.append(last[:-2] + "ves")
    else:
        forms.append(last + "s")
    if last.endswith("o"):
        forms.append(last + "es")
    return [prefix + f for f in dict.fromkeys(forms)]


class Matcher:
    """Finds which candidate (if any) an answer names."""

    def __init__(
        self,
        candidates: Iterable[str],
        aliases: Mapping[str, Iterable[str]] | None = None,
        rules: Rules | None = None,
    ) -> None:
        self.rules = rules or Rules()
        self.candidates = list(candidates)
        self._lookup: dict[tuple[str, ...], str] = {}
        aliases = aliases or {}
        for cand in self.candidates:
            spellings = [cand, *aliases.get(cand, [])]
            forms: list[str] = []
            for spelling in spellings:
                key = " ".join(clean(spelling, self.rules))
                if not key:
                    raise ValueError(
                        f"candidate or alias {spelling!r} is empty after normalisation"
                    )
                forms.append(key)
                if self.rules.singular:
                    forms.extend(plurals(key))
            for form in dict.fromkeys(forms):
                words = tuple(form.split())
                other = self._lookup.get(words)
                if other is not None and other != cand:
                    raise ValueError(
                        f"{form!r} would name both {other!r} and {cand!r}: "
                        "candidates and aliases must be distinct after normalisation"
                    )
                self._lookup[words] = cand
        self._max_words = max((len(k) for k in self._lookup), default=1)

    def exact(self, name: str) -> str | None:
        """The candidate that the whole of ``name`` is a form of (a spelling, alias or
        plural, after normalisation), else None: "Owls" is owl, "owl or dog" is nothing."""
        return self._lookup.get(tuple(clean(name, self.rules)))

    def match(self, answer: str) -> str | None:
        """The candidate the answer names, else None.

        With ``first_word`` the answer must *start* with the candidate (multi-word candidates
        such as "red panda" take their first words); without it, the first candidate found
        anywhere in the answer counts, which is the published "contains" rule.
        """
        words = clean(answer, self.rules)
        starts = range(1) if self.rules.first_word else range(len(words))
        for start in starts:
            for size in range(min(self._max_words, len(words) - start), 0, -1):
                found = self._lookup.get(tuple(words[start : start + size]))
                if found is not None:
                    return found
        return None
