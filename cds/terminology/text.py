"""Reading a Condition's or Procedure's words when its code cannot be placed.

An entry is "unplaced" when none of its codings lands in a value set and none is in a code system
whose hierarchy the engine has in full (ICD-10-CM): uncoded entries, unknown systems, local codes,
and SNOMED CT codes no expansion lists (and no configured server places). For those, the display
and text are matched against phrases of the absolute-contraindication concepts
(fhir/absolute-text-patterns.yaml): case-insensitive, on word boundaries, with a short NegEx-style
negation window ("no", "denies", "family history of" up to three words before; "ruled out" after).

Why it cannot produce a false absolute: a hit yields a review fact whose rule is a blocking data
gap (insufficient data, "confirm the coding"), never a contraindication. A false hit costs a
review; clearance waits for a clinician, which is the safe side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from cds import yamlio
from cds.paths import fhir_dir


class _Patterns(BaseModel):
    model_config = ConfigDict(extra="forbid")

    concepts: dict[str, list[str]]
    negation_before: str
    negation_after: str


@dataclass(frozen=True)
class TextHit:
    concept: str
    phrase: str  # the words that matched, as written


class TextMatcher:
    def __init__(self, concepts: dict[str, list[str]], negation_before: str, negation_after: str) -> None:
        self._concepts = {
            concept: re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(pats) + r")(?![A-Za-z0-9])", re.IGNORECASE)
            for concept, pats in concepts.items()
        }
        # The window stops at clause punctuation: "negative for DVT; AAA" still affirms the AAA.
        self._before = re.compile(negation_before + r"[^\w.;:,]+(?:[\w'/-]+[^\w.;:,]+){0,3}$", re.IGNORECASE)
        self._after = re.compile(r"^[^\w.;:,]*(?:[\w'/-]+[^\w.;:,]+){0,2}?" + negation_after, re.IGNORECASE)

    @classmethod
    def from_file(cls, path: Path) -> TextMatcher:
        data = _Patterns.model_validate(yamlio.load(path.read_text()))
        return cls(data.concepts, data.negation_before, data.negation_after)

    def concepts(self) -> list[str]:
        return sorted(self._concepts)

    def match(self, text: str | None) -> list[TextHit]:
        """One hit per concept the text affirms (negated mentions are skipped)."""
        if not text:
            return []
        hits: list[TextHit] = []
        for concept, pattern in self._concepts.items():
            for m in pattern.finditer(text):
                if self._before.search(text[: m.start()]) or self._after.search(text[m.end() :]):
                    continue
                hits.append(TextHit(concept, m.group(0)))
                break
        return hits


def load_text_matcher(path: Path | None = None) -> TextMatcher:
    return TextMatcher.from_file(path or fhir_dir() / "absolute-text-patterns.yaml")
