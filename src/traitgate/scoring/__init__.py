"""Reading model answers: normalisation to candidates (judges and multiple choice come later)."""

from traitgate.scoring.normalise import Matcher, Rules, clean, plurals

__all__ = ["Matcher", "Rules", "clean", "plurals"]
