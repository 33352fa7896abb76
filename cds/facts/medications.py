"""Medication exposures from MedicationRequest, MedicationStatement, MedicationDispense and
MedicationAdministration: which ingredient, from when to when, at what daily dose, and why it
stopped. Identity: cds/facts/drug_identity.py; dates: cds/facts/intake.py; dose: cds/facts/dose.py."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from cds.contract.facts import AllergyFact, BenzodiazepineLoadFact, MedicationFact
from cds.facts import intake
from cds.facts.dose import DoseReading, daily_dose, strength_from_medication, strength_from_text
from cds.facts.fhirdata import concept_text
from cds.ingest.load import RawResource
from cds.settings import BenzodiazepineEquivalents, DoseTable, OutcomeVocabulary
from cds.terminology import ValueSets
from cds.terminology.drug_identity import DrugIdentity, describe_codes, has_name

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
    "blood-pressure-raising-drugs",
    "nasal-corticosteroids-decongestants",
    "esketamine",
    "ketamine",
)
# Not an exposure: never taken, planned only ("intended" statements), or recorded in error.
_SKIP_STATUS = {"entered-in-error", "cancelled", "draft", "not-taken", "declined", "intended"}
# Engine convention (not a clinical source): labelled maximum antidepressant doses are at most
# about 8x the minimum adequate dose (rules/antidepressant-doses.yaml); a recorded daily dose
# beyond 10x, or under a tenth, of the minimum is taken as a unit or entry slip and not used.
PLAUSIBLE_MULTIPLE_OF_MINIMUM = 10.0
PLAUSIBLE_FRACTION_OF_MINIMUM = 0.1


@dataclass(frozen=True)
class Exposure:
    """One intake step of one medication record for one ingredient (a taper is several)."""

    valueset: str
    ingredient: str
    ref: str
    start: date | None
    end: date | None  # None: unknown (or ongoing)
    ongoing: bool
    daily_dose_mg: float | None  # the low end of any range: what proves adequacy
    dose_note: str | None
    outcome: str | None  # failed | intolerance | remission | None (not recorded)
    daily_dose_max_mg: float | None = None  # the high end: what sizes a load (benzodiazepines)
    identified: bool = True  # False: a record naming no drug this engine can read
    current: bool = False  # unidentified records only: taken on the evaluation date (never `ongoing`)


def _reference_key(ref: str) -> str:
    """'Medication/1', 'https://ehr/fhir/Medication/1/_history/2', 'urn:uuid:1' -> 'Medication/1'."""
    if ref.startswith("urn:"):
        return f"Medication/{ref.rsplit(':', 1)[-1]}"
    parts = [p for p in ref.split("/") if p]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:]) if len(parts) >= 2 else f"Medication/{ref}"


def _by_identifier(resources: list[RawResource]) -> dict[tuple[str, str], RawResource]:
    out: dict[tuple[str, str], RawResource] = {}
    for r in resources:
        if r.type != "Medication":
            continue
        for ident in r.data.get("identifier") or []:
            if isinstance(ident, dict) and isinstance(ident.get("value"), str):
                out.setdefault((str(ident.get("system") or ""), ident["value"]), r)
                out.setdefault(("", ident["value"]), r)
    return out


def _medication(
    res: RawResource,
    by_ref: dict[str, RawResource],
    by_ident: dict[tuple[str, str], RawResource],
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(medication CodeableConcept, Medication resource or None). medicationReference resolves
    to a contained (#id), relative, absolute-URL, urn:uuid or identifier-only Medication."""
    data = res.data
    if isinstance(data.get("medicationCodeableConcept"), dict):
        return data["medicationCodeableConcept"], None
    mref = data.get("medicationReference") or {}
    if not isinstance(mref, dict):
        return None, None
    ref = mref.get("reference")
    med: dict[str, Any] | None = None
    if isinstance(ref, str) and ref.startswith("#"):
        med = next((c for c in data.get("contained") or [] if c.get("id") == ref[1:]), None)
    elif isinstance(ref, str):
        found = by_ref.get(_reference_key(ref))
        med = found.data if found else None
    elif isinstance(mref.get("identifier"), dict):
        ident = mref["identifier"]
        found = by_ident.get((str(ident.get("system") or ""), str(ident.get("value") or "")))
        med = found.data if found else None
    if med is None:
        display = mref.get("display")
        return ({"text": display} if isinstance(display, str) else {}), None
    return med.get("code") or {}, med


def _identity_concept(concept: dict[str, Any] | None, med: dict[str, Any] | None) -> dict[str, Any]:
    """Medication.code together with Medication.ingredient[].itemCodeableConcept (and the names of
    itemReference), so that a Medication known only by its ingredients is still identified."""
    codings = list((concept or {}).get("coding") or [])
    texts = [t for t in [(concept or {}).get("text")] if isinstance(t, str) and t]
    for ing in (med or {}).get("ingredient") or []:
        if not isinstance(ing, dict):
            continue
        item = ing.get("itemCodeableConcept")
        if isinstance(item, dict):
            codings += [c for c in item.get("coding") or [] if isinstance(c, dict)]
            if isinstance(item.get("text"), str):
                texts.append(item["text"])
        display = (ing.get("itemReference") or {}).get("display")
        if isinstance(display, str):
            texts.append(display)
    out: dict[str, Any] = {"coding": codings}
    if texts:
        out["text"] = " | ".join(texts)
    return out


def _plausible(
    drug: str, reading: DoseReading, doses: DoseTable | None
) -> tuple[float | None, float | None, str | None]:
    """A daily dose far outside the drug's range is a unit or entry slip, not a dose: it is not used."""
    row = doses.doses.get(drug) if doses else None
    minimum = row.min_mg_per_day if row else None
    if minimum is None or reading.low is None or reading.high is None:
        return reading.low, reading.high, reading.note
    lo, hi = minimum * PLAUSIBLE_FRACTION_OF_MINIMUM, minimum * PLAUSIBLE_MULTIPLE_OF_MINIMUM
    if reading.low < lo or reading.high > hi:
        return (
            None,
            None,
            f"recorded daily dose {reading.low:g} mg is implausible for {drug} "
            f"(outside {lo:g}-{hi:g} mg): check the dose and its unit",
        )
    return reading.low, reading.high, None


def build_exposures(
    resources: list[RawResource],
    as_of: date,
    vs: ValueSets,
    outcomes: OutcomeVocabulary,
    *,
    identity: DrugIdentity,
    doses: DoseTable | None = None,
    gap_days: int = 7,
) -> list[Exposure]:
    """Every intake step of every medication record, per ingredient a rule or trial reads.
    `gap_days` (settings trd.max_gap_days) is the refill gap tolerance for dispensed supply."""
    by_ref = {r.ref: r for r in resources}
    by_ident = _by_identifier(resources)
    reader = _reader(outcomes)
    out: list[Exposure] = []
    for res in resources:
        if res.type not in MED_TYPES:
            continue
        data = res.data
        if data.get("status") in _SKIP_STATUS or data.get("intent") in ("proposal", "plan"):
            continue
        if res.type == "MedicationDispense" and data.get("status") in ("preparation", "in-progress"):
            continue  # not yet handed over
        code_concept, med = _medication(res, by_ref, by_ident)
        concept = _identity_concept(code_concept, med)
        products = identity.products_in(concept)
        concept = identity.expand(concept)
        found = vs.match_concept_in(DRUG_VALUESETS, concept)
        matches = list({(m.valueset, m.display): m for ms in found.values() for m in ms}.values())
        # A value set listing a product code (an SCD) beside its ingredient: the ingredient names it.
        listed = {p.code for p in products}
        matches = [
            m
            for m in matches
            if m.code not in listed
            or not any(x.valueset == m.valueset and x.code not in listed for x in matches)
        ]
        where = f"{res.origin} ({res.ref})"
        if not matches:
            if not products and not has_name(concept):
                out.extend(_unidentified(res, concept, as_of, where, gap_days))
            continue
        single_product = products[0] if len(products) == 1 else None
        strength = (
            strength_from_medication(med)
            or (strength_from_text(single_product.name) if single_product else None)
            or strength_from_text(concept_text(code_concept))
        )
        ingredient_count = max(
            [len({m.display for m in matches})]
            + [p.ingredient_count or 1 for p in products]
            + [len((med or {}).get("ingredient") or [])]
        )
        reasons = data.get("statusReason")
        reasons = reasons if isinstance(reasons, list) else [reasons] if reasons else []
        outcome = reader.read(reasons)
        if any(m.display == "selegiline" for m in matches) and not _transdermal(data, products, concept):
            # Oral selegiline (MAO-B, Parkinson's disease) is not an antidepressant trial; only the
            # transdermal system is (issue 13 item 9). It stays an MAOI for the interaction rules.
            matches = [
                m for m in matches if not (m.display == "selegiline" and m.valueset == "antidepressants")
            ]
        for step in intake.steps(res.type, data, as_of, where, gap_days):
            reading = _step_dose(res.type, data, step, strength, where)
            for m in matches:
                note: str | None
                if ingredient_count > 1:
                    low, high, note = None, None, "combination product: dose per ingredient unknown"
                else:
                    low, high, note = _plausible(m.display, reading, doses)
                out.append(
                    Exposure(
                        valueset=m.valueset,
                        ingredient=m.display,
                        ref=res.ref,
                        start=step.start,
                        end=step.end,
                        ongoing=step.ongoing,
                        daily_dose_mg=low,
                        dose_note=note,
                        outcome=outcome,
                        daily_dose_max_mg=high,
                    )
                )
    return out


_TRANSDERMAL = ("transdermal", "patch", "emsam", "mg/24")


def _transdermal(data: dict[str, Any], products: list[Any], concept: dict[str, Any]) -> bool:
    """The record shows a transdermal form: a product name, the drug text, the route or the sig."""
    texts = [p.name for p in products] + [concept_text(concept)]
    for dosage in data.get("dosageInstruction") or data.get("dosage") or []:
        if isinstance(dosage, dict):
            texts.append(str(dosage.get("text") or ""))
            texts.append(concept_text(dosage.get("route")))
    return any(word in t.lower() for t in texts if t for word in _TRANSDERMAL)


def _step_dose(
    res_type: str, data: dict[str, Any], step: intake.Step, strength: float | None, where: str
) -> DoseReading:
    """The daily dose of one step: the dosages taken together add up."""
    if not step.dosages:
        if res_type == "MedicationDispense":
            return _dispense_dose(data, strength)
        return DoseReading.unknown("no dosage instruction")
    low = high = 0.0
    for d in step.dosages:
        reading = daily_dose(d, strength, where=where)
        if reading.low is None or reading.high is None:
            return reading
        low, high = low + reading.low, high + reading.high
    return DoseReading(round(low, 2), round(high, 2))


def _dispense_dose(data: dict[str, Any], strength: float | None) -> DoseReading:
    qty = (data.get("quantity") or {}).get("value")
    days = intake.duration_days(data.get("daysSupply"), default_unit="d")
    if not isinstance(qty, int | float) or qty <= 0 or not days:
        return DoseReading.unknown("dispense without dosage, quantity or days supply")
    if strength is None:
        return DoseReading.unknown("dispensed quantity known but product strength unknown")
    dose = round(float(qty) * strength / days, 2)
    return DoseReading(dose, dose)


def _unidentified(
    res: RawResource, concept: dict[str, Any], as_of: date, where: str, gap_days: int
) -> list[Exposure]:
    """A record whose drug cannot be read (a code outside the RxNorm table, no name) might be an
    antidepressant: it becomes a trial the record cannot settle, never a silent omission. It is
    never ongoing, so it cannot stand in for a current antidepressant."""
    codes = describe_codes(concept)
    out = []
    for step in intake.steps(res.type, res.data, as_of, where, gap_days):
        current = step.ongoing or (step.end is not None and step.end >= as_of)
        out.append(
            Exposure(
                valueset="antidepressants",
                ingredient=f"unidentified medication ({codes})",
                ref=res.ref,
                start=step.start,
                end=None if step.ongoing else step.end,
                ongoing=False,
                daily_dose_mg=None,
                dose_note=f"{res.ref} names no drug this engine can read ({codes}, no name): record the drug name",
                outcome=None,
                identified=False,
                current=current,
            )
        )
    return out


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


_READER: tuple[OutcomeVocabulary, OutcomeReader] | None = None  # the last vocabulary's, compiled once


def _reader(vocab: OutcomeVocabulary) -> OutcomeReader:
    """The reader of a vocabulary (knowledge is immutable: its patterns are compiled once, not per patient)."""
    global _READER
    last = _READER
    if last is None or last[0] is not vocab:
        last = _READER = (vocab, OutcomeReader(vocab))
    return last[1]


def build_medication_facts(exposures: list[Exposure], as_of: date) -> list[MedicationFact]:
    """Current and past exposure per ingredient for interaction and history rules."""
    facts: dict[tuple[str, str], MedicationFact] = {}
    for e in sorted(exposures, key=lambda e: e.start or date.min):
        if not e.identified:
            if e.current:
                # It might be a benzodiazepine, an opioid, an MAOI: interactions cannot be checked.
                key = ("unidentified", e.ingredient)
                prev = facts.get(key)
                facts[key] = MedicationFact(
                    evidence=sorted({*(prev.evidence if prev else []), e.ref}),
                    valueset="unidentified",
                    ingredient=e.ingredient,
                    active=True,
                    start=prev.start if prev and prev.start else e.start,
                    identified=False,
                )
            continue
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
    """Active benzodiazepines as diazepam mg/day (DDI-09); unknown if any dose or equivalent is.
    A dose range counts at its high end: the load threshold is a precaution, so the stricter reading."""
    active = [e for e in exposures if e.valueset == "benzodiazepines" and e.ongoing]
    if not active:
        return BenzodiazepineLoadFact(active=False, diazepam_equivalent_mg=0)
    total, complete = 0.0, True
    for e in active:
        eq = equivalents.equivalent_to_10mg_diazepam.get(e.ingredient)
        dose = e.daily_dose_max_mg if e.daily_dose_max_mg is not None else e.daily_dose_mg
        if dose is None or eq is None:
            complete = False
            continue
        total += dose * 10 / eq
    return BenzodiazepineLoadFact(
        evidence=sorted({e.ref for e in active}),
        active=True,
        diazepam_equivalent_mg=round(total, 1) if complete else None,
        known_dose_mg=round(total, 1),
    )
