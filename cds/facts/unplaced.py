"""Evidence a coded value set alone would miss.

- Repair procedures (aneurysm-repair value set): a repaired aneurysm is still aneurysmal vascular
  disease (KNOWLEDGE.md CI-ABS-01: "any history, active or repaired not distinguished by label"),
  so the Procedure yields an aneurysmal-vascular-disease ConditionFact, status resolved.
- Unplaced entries (cds.terminology.text): a Condition or Procedure whose codes land nowhere and
  whose words read like an absolute concept yields a ConditionReviewFact (a blocking data gap).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date
from typing import Any

from cds.contract.facts import ConditionFact, ConditionReviewFact
from cds.facts.fhirdata import parse_date
from cds.ingest.load import RawResource
from cds.terminology import ValueSets
from cds.terminology.server import ENV_URL
from cds.terminology.text import TextMatcher

SNOMED = "http://snomed.info/sct"
# Procedure value set -> the condition value set its presence proves.
PROCEDURE_IMPLIES = {"aneurysm-repair": "aneurysmal-vascular-disease"}
_DROP_VERIFICATION = {"refuted", "entered-in-error"}


def procedure_conditions(resources: list[RawResource], as_of: date, vs: ValueSets) -> list[ConditionFact]:
    out: list[ConditionFact] = []
    for res in resources:
        if res.type != "Procedure" or res.data.get("status") == "entered-in-error":
            continue  # planned, stopped or not-done repairs still say an aneurysm was there
        hits = vs.match_concept_in(tuple(PROCEDURE_IMPLIES), res.data.get("code"))
        if not hits:
            continue
        where = f"{res.origin} ({res.ref})"
        performed = parse_date(res.data.get("performedDateTime"), where=where, field="performedDateTime") or (
            parse_date(
                (res.data.get("performedPeriod") or {}).get("start"),
                where=where,
                field="performedPeriod.start",
            )
        )
        for proc_vs, matches in hits.items():
            m = matches[0]
            out.append(
                ConditionFact(
                    evidence=[res.ref],
                    valueset=PROCEDURE_IMPLIES[proc_vs],
                    code=m.code,
                    display=f"{m.display} (repair procedure)",
                    status="resolved",
                    verification="confirmed",
                    onset=performed if performed and performed <= as_of else None,
                )
            )
    return out


def condition_reviews(
    resources: list[RawResource], vs: ValueSets, matcher: TextMatcher, condition_valuesets: Sequence[str]
) -> list[ConditionReviewFact]:
    """Conditions and Procedures the codes cannot place whose words read like an absolute concept."""
    out: list[ConditionReviewFact] = []
    wanted = (*condition_valuesets, *PROCEDURE_IMPLIES)
    for res in resources:
        if res.type not in ("Condition", "Procedure"):
            continue
        data = res.data
        if res.type == "Condition" and _code(data.get("verificationStatus")) in _DROP_VERIFICATION:
            continue
        if res.type == "Procedure" and data.get("status") == "entered-in-error":
            continue
        raw = data.get("code")
        concept: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if vs.match_concept_in(wanted, concept):
            continue  # a value set holds it: the coded rules decide
        codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
        coded = [(str(c.get("system") or ""), str(c["code"])) for c in codings if c.get("code")]
        if any(vs.placed(s, c) or vs.is_hierarchical(s) for s, c in coded):
            continue  # a code the engine places (ICD-10-CM: its hierarchy is complete) and no rule is about
        words = [str(c["display"]) for c in codings if isinstance(c.get("display"), str)]
        if isinstance(concept.get("text"), str):
            words.append(concept["text"])
        text = " | ".join(dict.fromkeys(w.strip() for w in words if w.strip()))
        for hit in matcher.match(text):
            out.append(
                ConditionReviewFact(
                    evidence=[res.ref],
                    concept=hit.concept,
                    entry=res.ref,
                    text=text[:120],
                    phrase=hit.phrase,
                    coding=", ".join(f"{vs.system(s) or 'no system'}|{c}" for s, c in coded) or "uncoded",
                )
            )
    return out


def _code(concept: object) -> str | None:
    if isinstance(concept, dict):
        for c in concept.get("coding") or []:
            if isinstance(c, dict) and c.get("code"):
                return str(c["code"])
    return None


def worth_reading(res: RawResource, matcher: TextMatcher) -> bool:
    """For the pre-filter: a Condition/Procedure no value set holds may still matter, if its words read
    like an absolute concept or a configured terminology server may place one of its SNOMED CT codes."""
    concept = res.data.get("code")
    if not isinstance(concept, dict):
        return False
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    words = [str(c.get("display")) for c in codings if c.get("display")] + [str(concept.get("text") or "")]
    if matcher.match(" | ".join(words)):
        return True
    return bool(os.environ.get(ENV_URL)) and any(c.get("system") == SNOMED and c.get("code") for c in codings)
