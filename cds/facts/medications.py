"""Medication exposures from MedicationRequest, MedicationStatement and MedicationDispense:
which ingredient, from when to when, at what daily dose, and why it stopped."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cds.facts.dose import daily_dose_mg, strength_from_medication, strength_from_text
from cds.facts.fhirdata import concept_text, parse_date, period_end, period_start
from cds.facts.models import AllergyFact, BenzodiazepineLoadFact, MedicationFact
from cds.ingest.load import RawResource
from cds.settings import BenzodiazepineEquivalents, OutcomeVocabulary
from cds.terminology import ValueSets

MED_TYPES = ("MedicationRequest", "MedicationStatement", "MedicationDispense", "MedicationAdministration")
# Value sets for interaction and history facts (antidepressants become trials, see trials.py).
DRUG_VALUESETS = (
    "antidepressants",
    "augmentation-agents",
    "benzodiazepines",
    "opioids-and-sedatives",
    "maois",
    "psychostimulants",
    "theophylline",
    "memantine",
    "lamotrigine",
    "antihypertensives",
    "esketamine",
    "ketamine",
)
# Not an exposure: never taken, planned only ("intended" statements), or recorded in error.
_SKIP_STATUS = {"entered-in-error", "cancelled", "draft", "not-taken", "declined", "intended"}
# Taken on the evaluation date. "on-hold" is not: the end of a paused course is unknown.
_ONGOING_STATUS = {"active", "in-progress"}


@dataclass(frozen=True)
class Exposure:
    """One medication record for one ingredient."""

    valueset: str
    ingredient: str
    ref: str
    start: date | None
    end: date | None  # None: unknown (or ongoing)
    ongoing: bool
    daily_dose_mg: float | None
    dose_note: str | None
    outcome: str | None  # failed | intolerance | remission | None (not recorded)


def _medication(
    res: RawResource, by_ref: dict[str, RawResource]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(medication CodeableConcept, Medication resource or None)."""
    data = res.data
    if isinstance(data.get("medicationCodeableConcept"), dict):
        return data["medicationCodeableConcept"], None
    ref = (data.get("medicationReference") or {}).get("reference")
    if not isinstance(ref, str):
        return None, None
    med: dict[str, Any] | None = None
    if ref.startswith("#"):
        med = next((c for c in data.get("contained") or [] if c.get("id") == ref[1:]), None)
    else:
        key = ref if "/" in ref and not ref.startswith("urn:") else f"Medication/{ref.rsplit(':', 1)[-1]}"
        found = by_ref.get(key)
        med = found.data if found else None
    if med is None:
        return {"text": (data.get("medicationReference") or {}).get("display") or ""}, None
    return med.get("code"), med


class OutcomeReader:
    def __init__(self, vocab: OutcomeVocabulary) -> None:
        self._codes = {code: outcome for outcome, codes in vocab.codes.items() for code in codes}
        self._system = vocab.system
        self._text = [
            # Word boundaries, plurals allowed: "side effects" matches "side effect".
            (re.compile(r"(?<![A-Za-z])" + re.escape(phrase) + r"(?:e?s)?(?![A-Za-z])", re.I), outcome)
            for outcome, phrases in vocab.text.items()
            for phrase in phrases
        ]

    def read(self, reasons: list[Any]) -> str | None:
        for reason in reasons:
            if not isinstance(reason, dict):
                continue
            for coding in reason.get("coding") or []:
                if coding.get("system") == self._system and coding.get("code") in self._codes:
                    return self._codes[coding["code"]]
            text = concept_text(reason)
            # Intolerance wording wins over "failed" wording ("failed due to side effects").
            hits = {outcome for pattern, outcome in self._text if pattern.search(text)}
            for outcome in ("intolerance", "remission", "failed"):
                if outcome in hits:
                    return outcome
        return None


def build_exposures(
    resources: list[RawResource], as_of: date, vs: ValueSets, outcomes: OutcomeVocabulary
) -> list[Exposure]:
    by_ref = {r.ref: r for r in resources}
    reader = OutcomeReader(outcomes)
    out: list[Exposure] = []
    for res in resources:
        if res.type not in MED_TYPES:
            continue
        data = res.data
        if data.get("status") in _SKIP_STATUS or data.get("intent") in ("proposal", "plan"):
            continue
        concept, med = _medication(res, by_ref)
        matches = [m for found in vs.match_concept_in(DRUG_VALUESETS, concept).values() for m in found]
        if not matches:
            continue
        where = f"{res.origin} ({res.ref})"
        start, end, ongoing = _period(res, as_of, where)
        if start is not None and start > as_of:
            continue
        strength = strength_from_medication(med) or strength_from_text(concept_text(concept))
        dosage = _dosage(data)
        if res.type == "MedicationDispense" and not dosage:
            dose, note = _dispense_dose(data, strength, where)
        else:
            dose, note = daily_dose_mg(dosage, strength, where=where)
        single_ingredient = len({m.display for m in matches}) == 1
        reasons = data.get("statusReason")
        reasons = reasons if isinstance(reasons, list) else [reasons] if reasons else []
        outcome = reader.read(reasons)
        for m in matches:
            out.append(
                Exposure(
                    valueset=m.valueset,
                    ingredient=m.display,
                    ref=res.ref,
                    start=start,
                    end=end,
                    ongoing=ongoing,
                    # A combination product's dose cannot be split per ingredient from a total.
                    daily_dose_mg=dose if single_ingredient else None,
                    dose_note=note
                    if single_ingredient
                    else "combination product: dose per ingredient unknown",
                    outcome=outcome,
                )
            )
    return out


def _dosage(data: dict[str, Any]) -> dict[str, Any] | None:
    for key in ("dosageInstruction", "dosage"):
        value = data.get(key)
        if isinstance(value, list) and value:
            return value[0]  # type: ignore[no-any-return]
        if isinstance(value, dict):  # MedicationAdministration.dosage is a single element
            return _admin_dosage(value)
    return None


def _admin_dosage(d: dict[str, Any]) -> dict[str, Any]:
    return {"doseAndRate": [{"doseQuantity": d["dose"]}], "text": "once"} if d.get("dose") else {}


def _dispense_dose(
    data: dict[str, Any], strength: float | None, where: str
) -> tuple[float | None, str | None]:
    qty = (data.get("quantity") or {}).get("value")
    days = (data.get("daysSupply") or {}).get("value")
    if not isinstance(qty, int | float) or not isinstance(days, int | float) or days <= 0:
        return None, "dispense without dosage, quantity or days supply"
    if strength is None:
        return None, "dispensed quantity known but product strength unknown"
    return round(float(qty) * strength / float(days), 2), None


def _period(res: RawResource, as_of: date, where: str) -> tuple[date | None, date | None, bool]:
    data, status = res.data, res.data.get("status")
    if res.type == "MedicationStatement":
        start = period_start(data, "effectivePeriod", where=where) or parse_date(
            data.get("effectiveDateTime"), where=where, field="effectiveDateTime"
        )
        end = period_end(data, "effectivePeriod", where=where)
    elif res.type == "MedicationAdministration":
        start = period_start(data, "effectivePeriod", where=where) or parse_date(
            data.get("effectiveDateTime"), where=where, field="effectiveDateTime"
        )
        end = period_end(data, "effectivePeriod", where=where) or start
    elif res.type == "MedicationDispense":
        start = parse_date(
            data.get("whenHandedOver") or data.get("whenPrepared"), where=where, field="whenHandedOver"
        )
        days = (data.get("daysSupply") or {}).get("value")
        end = (
            start + timedelta(days=float(days))
            if start and isinstance(days, int | float) and days > 0
            else None
        )
        return start, (min(end, as_of) if end else None), False
    else:  # MedicationRequest
        disp = data.get("dispenseRequest") or {}
        start = period_start(disp, "validityPeriod", where=where) or parse_date(
            data.get("authoredOn"), where=where, field="authoredOn"
        )
        end = period_end(disp, "validityPeriod", where=where)
        supply = (disp.get("expectedSupplyDuration") or {}).get("value")
        if end is None and start and isinstance(supply, int | float) and supply > 0:
            repeats = int(disp.get("numberOfRepeatsAllowed") or 0)
            end = start + timedelta(days=float(supply) * (repeats + 1))
    if start is not None and end is not None and end < start:
        from cds.errors import InputError

        raise InputError(f"period ends ({end}) before it starts ({start})", location=where)
    ongoing = status in _ONGOING_STATUS and (end is None or end >= as_of)
    if ongoing:
        end = None
    elif end is not None and end > as_of:
        end = as_of
    return start, end, ongoing


def build_medication_facts(exposures: list[Exposure], as_of: date) -> list[MedicationFact]:
    """Current and past exposure per ingredient for interaction and history rules."""
    facts: dict[tuple[str, str], MedicationFact] = {}
    for e in sorted(exposures, key=lambda e: e.start or date.min):
        active = e.ongoing or (e.end is not None and e.end >= as_of)
        key = (e.valueset, e.ingredient)
        prev = facts.get(key)
        evidence = sorted({*(prev.evidence if prev else []), e.ref})
        facts[key] = MedicationFact(
            evidence=evidence,
            valueset=e.valueset,
            ingredient=e.ingredient,
            active=active or bool(prev and prev.active),
            daily_dose_mg=e.daily_dose_mg if active else (prev.daily_dose_mg if prev else None),
            start=prev.start if prev and prev.start else e.start,
        )
    return list(facts.values())


def build_allergies(resources: list[RawResource], vs: ValueSets) -> list[AllergyFact]:
    out: list[AllergyFact] = []
    for res in resources:
        if res.type != "AllergyIntolerance":
            continue
        verification = _code(res.data.get("verificationStatus")) or "unknown"
        if verification in ("refuted", "entered-in-error"):
            continue
        # The substance may be coded (RxNorm, SNOMED CT substance or product), a brand or salt in the
        # text, or named only in reaction[].substance (code then holds a class or "drug allergy").
        reactions = res.data.get("reaction")
        concepts = [res.data.get("code")] + [
            r.get("substance")
            for r in (reactions if isinstance(reactions, list) else [])
            if isinstance(r, dict)
        ]
        found: dict[str, str] = {}
        for concept in concepts:
            for vs_id, matches in vs.match_concept_in(("esketamine", "ketamine"), concept).items():
                found.setdefault(vs_id, matches[0].display)
        out.extend(
            AllergyFact(evidence=[res.ref], valueset=vs_id, substance=name, verification=verification)
            for vs_id, name in found.items()
        )
    return out


def _code(concept: object) -> str | None:
    if isinstance(concept, dict):
        for c in concept.get("coding") or []:
            if c.get("code"):
                return str(c["code"])
    return None


def build_benzodiazepine_load(
    exposures: list[Exposure], equivalents: BenzodiazepineEquivalents
) -> BenzodiazepineLoadFact:
    """Active benzodiazepines as diazepam mg/day (DDI-09); unknown if any dose or equivalent is."""
    active = [e for e in exposures if e.valueset == "benzodiazepines" and e.ongoing]
    if not active:
        return BenzodiazepineLoadFact(active=False, diazepam_equivalent_mg=0)
    total, complete = 0.0, True
    for e in active:
        eq = equivalents.equivalent_to_10mg_diazepam.get(e.ingredient)
        if e.daily_dose_mg is None or eq is None:
            complete = False
            continue
        total += e.daily_dose_mg * 10 / eq
    return BenzodiazepineLoadFact(
        evidence=sorted({e.ref for e in active}),
        active=True,
        diazepam_equivalent_mg=round(total, 1) if complete else None,
        known_dose_mg=round(total, 1),
    )
